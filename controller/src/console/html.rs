//! The console's small shared pieces: HTML escaping, the page frame (head,
//! navigation, sign-out form), and decoding of query strings and form bodies.

use std::fmt::Write;

/// `s` safe inside HTML text and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` as one percent-encoded URL component (path segment or query value):
/// everything but unreserved characters is encoded.
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a
/// space); bad escapes are kept as written, bytes that are not UTF-8 replaced.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The pairs of a query string or form body, in order.
pub fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (url_decode(k), url_decode(v)),
            None => (url_decode(p), String::new()),
        })
        .collect()
}

/// The first value of `key` in `pairs`, empty when absent.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A navigation entry: its path and its label.
pub type NavItem = (&'static str, &'static str);

/// Who is signed in, as the frame shows it: the name, the roles, the CSRF
/// token of the sign-out form, and the pages their roles reach.
pub struct Frame<'a> {
    /// The user's name.
    pub user: &'a str,
    /// Their roles, as written in files.
    pub roles: String,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// The navigation (only pages that exist and that the roles reach).
    pub nav: Vec<NavItem>,
}

/// A whole page: `title`, and `body` (already escaped HTML) inside the frame.
/// Without a frame (signed out) there is no navigation.
pub fn page(title: &str, frame: Option<&Frame>, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + 1024);
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · camplane</title><link rel=\"stylesheet\" href=\"/console/static/console.css\"></head><body>\
<header><a class=\"brand\" href=\"/console/\">camplane</a>",
        esc(title)
    );
    if let Some(f) = frame {
        s.push_str("<nav aria-label=\"Main\"><ul>");
        for (href, label) in &f.nav {
            let _ = write!(s, "<li><a href=\"{href}\">{}</a></li>", esc(label));
        }
        s.push_str("</ul></nav>");
        let _ = write!(
            s,
            "<form class=\"signout\" method=\"post\" action=\"/console/logout\">{}\
<span class=\"who\">{} ({})</span> <button type=\"submit\">Sign out</button></form>",
            csrf_field(f.csrf),
            esc(f.user),
            esc(&f.roles)
        );
    }
    let _ = writeln!(
        s,
        "</header><main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    s
}

/// The hidden CSRF field every POST form carries.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A labelled `<select>` named `name` of `options` (value, label), `chosen`
/// selected; the first option is "any" (an empty value).
pub fn select(name: &str, label: &str, options: &[(String, String)], chosen: &str) -> String {
    let mut s = format!(
        "<label for=\"f-{n}\">{l}</label><select id=\"f-{n}\" name=\"{n}\"><option value=\"\">any</option>",
        n = esc(name),
        l = esc(label)
    );
    for (v, l) in options {
        let sel = if v == chosen { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l));
    }
    s.push_str("</select>");
    s
}

/// A stored time (RFC 3339) as people read it, to the second in UTC; other
/// text as it is.
pub fn when(s: &str) -> String {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => s.to_string(),
    }
}

/// A message box (`class`: `error` or `note`).
pub fn message(class: &str, text: &str) -> String {
    format!("<p class=\"{class}\" role=\"status\">{}</p>", esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("Vračar"), "Vračar");
    }

    #[test]
    fn times_read_to_the_second() {
        assert_eq!(
            when("2026-12-03T15:17:37.830699291Z"),
            "2026-12-03 15:17:37 UTC"
        );
        assert_eq!(when(""), "");
    }

    #[test]
    fn url_parts_round_trip() {
        for s in ["cam-1", "a b&c=d/e?f", "Vračar #7", "%41+"] {
            assert_eq!(url_decode(&url_part(s)), s);
        }
        assert_eq!(url_part("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn forms_decode_plus_escapes_and_bad_escapes() {
        let p = pairs("username=ann+lee&password=p%26ss%3D1&x=%zz&y=%4&flag&");
        assert_eq!(field(&p, "username"), "ann lee");
        assert_eq!(field(&p, "password"), "p&ss=1");
        assert_eq!(field(&p, "x"), "%zz");
        assert_eq!(field(&p, "y"), "%4");
        assert_eq!(field(&p, "flag"), "");
        assert_eq!(field(&p, "absent"), "");
        assert_eq!(url_decode("%C3%A9"), "é");
        assert_eq!(url_decode("%FF"), "\u{fffd}");
    }

    #[test]
    fn a_page_escapes_its_title_and_has_no_nav_signed_out() {
        let p = page("<x>", None, "<p>b</p>");
        assert!(p.contains("<title>&lt;x&gt; · camplane</title>"));
        assert!(p.contains("name=\"viewport\""));
        assert!(!p.contains("<nav"));
        let f = Frame {
            user: "ann",
            roles: "viewer".into(),
            csrf: "t\"",
            nav: vec![("/console/cameras", "Cameras")],
        };
        let p = page("Cameras", Some(&f), "");
        assert!(p.contains("<nav"));
        assert!(p.contains("value=\"t&quot;\""));
    }
}
