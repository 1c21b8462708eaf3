//! Text shown to people (the CLI's tables, `audit tail`, the audit report):
//! one escaping rule, so a name or reason someone typed cannot forge a row,
//! hide itself, or send escape codes to an auditor's terminal.

/// Text made safe to show: on a terminal, in a report: control characters are
/// shown as escapes (`\n`, `\t`, `\x1b`, `\u{85}`) and a backslash as `\\`,
/// so a value cannot forge a row or drive the terminal, and what an auditor reads
/// is what the log holds.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            // C1 controls, bidirectional overrides and other invisible format
            // characters that reorder or hide what is shown.
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::visible as clean;

    #[test]
    fn control_characters_cannot_forge_a_row() {
        let forged =
            "mallory\n     9  2026-01-01T00:00:00Z  admin          audit.cleared ok\x1b[2K";
        let shown = clean(forged);
        assert!(!shown.contains('\n') && !shown.contains('\x1b'), "{shown}");
        assert_eq!(
            shown,
            "mallory\\n     9  2026-01-01T00:00:00Z  admin          audit.cleared ok\\x1b[2K"
        );
        // Unambiguous: a literal backslash-n is not shown like a newline.
        assert_eq!(clean("a\\nb"), "a\\\\nb");
        assert_eq!(clean("tab\there\r"), "tab\\there\\r");
        assert_eq!(clean("\u{202e}gnp.exe"), "\\u{202e}gnp.exe");
        assert_eq!(clean("\u{85}"), "\\u{85}");
        assert_eq!(clean("Łódź café 東京"), "Łódź café 東京");
    }
}
