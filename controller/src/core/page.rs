//! Pages of a list in key order, each under a byte budget, so that no reply
//! exceeds a client's limit however long the list grows (issue #22).

/// What one item costs on the wire beyond the bytes [`page`] is told about: the
/// tags and length prefixes of an `Object` (kind, name, json, revision) and of its
/// place in the repeated field, at their largest.
pub const ITEM_OVERHEAD: usize = 40;

/// Room kept in every page for the continuation key itself (a name of at most
/// 2,000 characters, four bytes each at most) and the reply's own framing.
pub const KEY_RESERVE: usize = 8 << 10;

/// One page of `items` (in ascending `key` order): those whose key is after
/// `after` (all when `after` is empty), as many as fit in `budget` bytes by
/// `size` (at least one, so a page always moves on), and the key to ask after
/// for the next page (empty when none are left).
pub fn page<T>(
    items: impl IntoIterator<Item = T>,
    after: &str,
    key: impl Fn(&T) -> &str,
    size: impl Fn(&T) -> usize,
    budget: usize,
) -> (Vec<T>, String) {
    let room = budget.saturating_sub(KEY_RESERVE);
    let mut out = Vec::new();
    let mut used = 0;
    let mut rest = items
        .into_iter()
        .filter(|t| after.is_empty() || key(t) > after)
        .peekable();
    while let Some(t) = rest.peek() {
        let cost = size(t) + ITEM_OVERHEAD;
        if !out.is_empty() && used + cost > room {
            break;
        }
        used += cost;
        out.extend(rest.next());
    }
    let next = match (rest.peek(), out.last()) {
        (Some(_), Some(last)) => key(last).to_string(),
        _ => String::new(),
    };
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i:04}")).collect()
    }

    /// Walking the pages gives every item once, in order, each page in budget.
    #[test]
    fn pages_cover_the_list_once_within_budget() {
        let all = names(100);
        let budget = KEY_RESERVE + 10 * (5 + ITEM_OVERHEAD);
        let (mut seen, mut after, mut pages) = (Vec::new(), String::new(), 0);
        loop {
            let (p, next) = page(all.clone(), &after, |s| s, |s| s.len(), budget);
            assert!(p.len() <= 10, "{}", p.len());
            seen.extend(p);
            pages += 1;
            if next.is_empty() {
                break;
            }
            after = next;
        }
        assert_eq!(seen, all);
        assert_eq!(pages, 10);
    }

    /// An item larger than the budget still comes, alone, so paging moves on;
    /// an empty list and a list that fits are one page with no continuation.
    #[test]
    fn an_oversized_item_comes_alone_and_short_lists_end() {
        let all = vec!["a".to_string(), "b".repeat(1000), "c".to_string()];
        let (p, next) = page(all.clone(), "a", |s| s, |s| s.len(), KEY_RESERVE + 100);
        assert_eq!((p.len(), next.as_str()), (1, p[0].as_str()));
        let (p, next) = page(Vec::<String>::new(), "", |s| s, |s| s.len(), 1 << 20);
        assert!(p.is_empty() && next.is_empty());
        let (p, next) = page(all.clone(), "", |s| s, |s| s.len(), 1 << 20);
        assert_eq!((p, next), (all, String::new()));
    }
}
