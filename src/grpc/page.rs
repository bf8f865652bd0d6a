//! AIP-158 pagination over an ordered listing.
//!
//! A page token carries the offset of the next entry and a fingerprint of
//! the filters it was issued for; reusing it with other filters is
//! INVALID_ARGUMENT, as AIP-158 asks.

use crate::error::{Error, Result};

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Larger requests are read as this size.
pub const MAX_PAGE_SIZE: usize = 500;

/// One page of `items` and the token for the next one (empty at the end).
pub fn paginate<T>(
    items: Vec<T>,
    page_size: i32,
    page_token: &str,
    filters: &[&str],
) -> Result<(Vec<T>, String)> {
    let (start, size) = window(page_size, page_token, filters)?;
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let end = start.saturating_add(size).min(items.len());
    let next = next_token(end as u64, items.len() as u64, filters);
    let page = items
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    Ok((page, next))
}

/// The offset and size of the page a request asks for: listings in memory
/// skip in a Vec, the database with OFFSET.
pub fn window(page_size: i32, page_token: &str, filters: &[&str]) -> Result<(u64, usize)> {
    let size = match page_size {
        n if n < 0 => {
            return Err(Error::invalid(
                "page_size",
                format!("must not be negative, got {n}"),
            ));
        }
        0 => DEFAULT_PAGE_SIZE,
        n => (n as usize).min(MAX_PAGE_SIZE),
    };
    let start = if page_token.is_empty() {
        0
    } else {
        decode(page_token, fingerprint(filters))?
    };
    Ok((start, size))
}

/// The token for the page starting at `end` of `total` entries; empty when
/// nothing is left.
pub fn next_token(end: u64, total: u64, filters: &[&str]) -> String {
    if end < total {
        format!("{end:x}.{:016x}", fingerprint(filters))
    } else {
        String::new()
    }
}

fn decode(token: &str, fingerprint: u64) -> Result<u64> {
    let invalid = |why: &str| Error::invalid("page_token", why.to_string());
    let (offset, print) = token
        .split_once('.')
        .ok_or_else(|| invalid("is not a token this server issued"))?;
    let offset = u64::from_str_radix(offset, 16)
        .map_err(|_| invalid("is not a token this server issued"))?;
    let print =
        u64::from_str_radix(print, 16).map_err(|_| invalid("is not a token this server issued"))?;
    if print != fingerprint {
        return Err(invalid(
            "was issued for different filters; repeat the request's filters or start over",
        ));
    }
    Ok(offset)
}

/// FNV-1a over the filter values: stable across builds and restarts.
pub fn fingerprint(filters: &[&str]) -> u64 {
    crate::digest::fnv1a(filters.iter().flat_map(|f| f.bytes().chain([0xff])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_visit_every_item_once() {
        let items: Vec<u32> = (0..23).collect();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let (page, next) = paginate(items.clone(), 5, &token, &["a"]).unwrap();
            assert!(page.len() <= 5);
            seen.extend(page);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn sizes_default_and_cap() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            paginate(items.clone(), 0, "", &[]).unwrap().0.len(),
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            paginate(items.clone(), 9999, "", &[]).unwrap().0.len(),
            MAX_PAGE_SIZE
        );
        assert!(paginate(items, -1, "", &[]).is_err());
    }

    #[test]
    fn tokens_are_bound_to_their_filters() {
        let items: Vec<u32> = (0..10).collect();
        let (_, next) = paginate(items.clone(), 3, "", &["openai"]).unwrap();
        assert!(paginate(items.clone(), 3, &next, &["openai"]).is_ok());
        for bad in [next.as_str(), "zz", "garbage.token"] {
            let err = paginate(items.clone(), 3, bad, &["anthropic"]).unwrap_err();
            assert!(err.to_string().contains("page_token"), "{err}");
        }
    }

    #[test]
    fn a_token_past_the_end_gives_an_empty_last_page() {
        let token = format!("{:x}.{:016x}", 99, fingerprint(&[]));
        let (page, next) = paginate(vec![1, 2, 3], 2, &token, &[]).unwrap();
        assert!(page.is_empty() && next.is_empty());
    }
}
