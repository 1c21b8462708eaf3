//! The one CSV field writer of every CSV the controller produces (the public
//! log, the audit report): quoted when it holds a separator, a quote or a line
//! break, and defused when it starts like a spreadsheet formula (`=`, `+`, `-`,
//! `@`, tab, CR; OWASP's CSV-injection advice), so a name an outsider chose is
//! never run by the spreadsheet that opens the file.

/// One CSV field.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quotes_and_defuses_formulas() {
        assert_eq!(field("cam-1"), "cam-1");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
        assert_eq!(field("a\nb"), "\"a\nb\"");
        assert_eq!(field("=cmd|' calc'!A0"), "'=cmd|' calc'!A0");
        assert_eq!(field("@SUM(1)"), "'@SUM(1)");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("\t=1"), "'\t=1");
        assert_eq!(field("\r=1"), "\"'\r=1\"");
        assert_eq!(field("=a,b"), "\"'=a,b\"");
    }
}
