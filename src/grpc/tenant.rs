//! Which team a call comes from, and what it may see.
//!
//! When the server checks bearer tokens, [`crate::auth`] puts the caller's
//! team in each request; a scenario, run, job or custom entry of another
//! team is answered NOT_FOUND, exactly as an unknown id, so ids reveal
//! nothing. Without tokens every caller is treated alike and sees all.

use tonic::Request;

use crate::auth::Team;
use crate::error::{Error, Result};

/// The caller's team, when tokens are checked.
pub fn caller<T>(request: &Request<T>) -> Option<String> {
    request.extensions().get::<Team>().map(|t| t.0.clone())
}

/// Whether the caller may see something owned by `owner`.
pub fn visible(owner: &str, caller: Option<&str>) -> bool {
    caller.is_none_or(|team| team == owner)
}

/// The team to save something under: the caller's, when tokens are
/// checked (a different team in the request is refused), otherwise what
/// the request says.
pub fn owner(field: &str, requested: String, caller: Option<&str>) -> Result<String> {
    match caller {
        None => Ok(requested),
        Some(team) if requested.is_empty() || requested == team => Ok(team.to_string()),
        Some(team) => Err(Error::invalid(
            field,
            format!("must be your team {team:?} or empty, got {requested:?}"),
        )),
    }
}

/// The team a listing is limited to: the caller's when tokens are checked
/// (asking for another team is refused), otherwise the filter as given.
pub fn filter(field: &str, requested: &str, caller: Option<&str>) -> Result<String> {
    owner(field, requested.to_string(), caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_tokens_everything_is_visible_and_teams_are_free() {
        assert!(visible("a", None));
        assert_eq!(owner("team", "x".into(), None).unwrap(), "x");
        assert_eq!(filter("team", "", None).unwrap(), "");
    }

    #[test]
    fn with_tokens_teams_see_and_save_only_their_own() {
        assert!(visible("a", Some("a")));
        assert!(!visible("b", Some("a")));
        assert_eq!(owner("team", String::new(), Some("a")).unwrap(), "a");
        assert!(owner("team", "b".into(), Some("a")).is_err());
        assert_eq!(filter("team", "", Some("a")).unwrap(), "a");
    }
}
