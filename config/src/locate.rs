//! Finding the line of a field path in YAML text, for error messages about values
//! that parsed fine but are not valid (a latitude of 120, a duplicate name).

/// Returns the 0-based line of `path` (`spec.location.lat`, `items.2.name`) in
/// block-style YAML `text`, or the line of the deepest part found.
pub fn line_of_path(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut min_indent: Option<usize> = None;
    let mut found = None;
    for part in path.split('.').filter(|p| !p.is_empty() && *p != "?") {
        if let Ok(idx) = part.parse::<usize>() {
            // the idx-th sequence item below the current key
            let mut seen = 0usize;
            let mut hit = None;
            for (i, l) in lines.iter().enumerate().skip(start) {
                let ind = indent(l);
                let t = l.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                if let Some(mi) = min_indent {
                    if ind < mi && i > start {
                        break;
                    }
                }
                if t.starts_with("- ") || t == "-" {
                    if seen == idx {
                        hit = Some((i, ind + 2));
                        break;
                    }
                    seen += 1;
                }
            }
            let (i, ind) = hit?;
            found = Some(i);
            start = i;
            min_indent = Some(ind);
            continue;
        }
        let key = format!("{part}:");
        let mut hit = None;
        for (i, l) in lines.iter().enumerate().skip(start) {
            let ind = indent(l);
            let t = l.trim_start().trim_start_matches("- ");
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some(mi) = min_indent {
                if ind + 2 < mi && i > start {
                    break;
                }
            }
            if t.starts_with(&key) {
                hit = Some((i, ind + 1));
                break;
            }
        }
        match hit {
            Some((i, ind)) => {
                found = Some(i);
                start = i;
                min_indent = Some(ind);
            }
            None => return found.map(|f| f + 1).or(None).map(|l| l - 1),
        }
    }
    found
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_items() {
        let t = "kind: Camera\nname: a\nspec:\n  site: x\n  location:\n    lat: 120\n    lon: 3\n  tags:\n    - a\n    - b\n";
        assert_eq!(line_of_path(t, "spec.location.lat"), Some(5));
        assert_eq!(line_of_path(t, "spec.site"), Some(3));
        assert_eq!(line_of_path(t, "spec.tags.1"), Some(9));
        assert_eq!(line_of_path(t, "name"), Some(1));
        assert_eq!(line_of_path(t, "spec.nothing"), Some(2));
    }
}
