//! `POST /env` (`sandbox.update_env`): the environment overlay every child started afterwards
//! gets on top of the daemon's own (scrubbed) environment. The daemon's real environment is
//! never mutated (`std::env::set_var` is unsound with threads); the overlay is applied where
//! children are built (`proc::child_env`). Running processes keep the environment they have.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use process_proto::wire::UpdateEnvRequest;

/// Name → `Some(value)` (set) or `None` (unset), applied over the daemon's environment.
static OVERLAY: RwLock<Option<HashMap<String, Option<String>>>> = RwLock::new(None);

/// A request the overlay cannot take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum EnvError {
    /// A name that is empty or holds `=` or NUL, or a value holding NUL.
    #[error("invalid environment variable {0:?}: names must be non-empty without '=' or NUL, values without NUL")]
    Invalid(String),
}

fn valid_name(k: &str) -> bool {
    !k.is_empty() && !k.contains(['=', '\0'])
}

/// Applies the overlay to `env` (a child's environment being built).
pub(crate) fn apply(env: &mut HashMap<String, String>) {
    let guard = OVERLAY.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(overlay) = guard.as_ref() {
        for (k, v) in overlay {
            match v {
                Some(v) => {
                    env.insert(k.clone(), v.clone());
                }
                None => {
                    env.remove(k);
                }
            }
        }
    }
}

/// Applies `req` (`unset`, then `unsetValuePrefix` over the environment children would get now,
/// then `set`); nothing changes if any name or value is invalid.
pub(crate) fn update(req: &UpdateEnvRequest) -> Result<(), EnvError> {
    let set = req.set.clone().unwrap_or_default();
    for (k, v) in &set {
        if !valid_name(k) || v.contains('\0') {
            return Err(EnvError::Invalid(k.clone()));
        }
    }
    if let Some(bad) = req.unset.iter().flatten().find(|k| !valid_name(k)) {
        return Err(EnvError::Invalid(bad.clone()));
    }
    let current = crate::proc::child_env([]);
    let mut guard = OVERLAY.write().unwrap_or_else(PoisonError::into_inner);
    let overlay = guard.get_or_insert_with(HashMap::new);
    for k in req.unset.iter().flatten() {
        overlay.insert(k.clone(), None);
    }
    if let Some(prefix) = req.unset_value_prefix.as_deref().filter(|p| !p.is_empty()) {
        for (k, v) in &current {
            if v.starts_with(prefix) && !set.contains_key(k) {
                overlay.insert(k.clone(), None);
            }
        }
    }
    for (k, v) in set {
        overlay.insert(k, Some(v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(set: &[(&str, &str)], unset: &[&str], prefix: Option<&str>) -> UpdateEnvRequest {
        UpdateEnvRequest {
            set: Some(
                set.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            unset: Some(unset.iter().map(|s| (*s).to_owned()).collect()),
            unset_value_prefix: prefix.map(str::to_owned),
        }
    }

    #[test]
    fn set_unset_and_prefix_reach_new_children_only_through_the_overlay() {
        update(&req(
            &[("ENV_T1_A", "1"), ("ENV_T1_B", "secret:keep")],
            &[],
            None,
        ))
        .unwrap();
        let env = crate::proc::child_env([]);
        assert_eq!(env.get("ENV_T1_A").map(String::as_str), Some("1"));
        assert!(
            std::env::var("ENV_T1_A").is_err(),
            "the daemon's own env is untouched"
        );
        update(&req(
            &[("ENV_T1_C", "secret:new")],
            &["ENV_T1_A"],
            Some("secret:"),
        ))
        .unwrap();
        let env = crate::proc::child_env([]);
        assert!(!env.contains_key("ENV_T1_A"));
        assert!(
            !env.contains_key("ENV_T1_B"),
            "value prefix removes placeholders"
        );
        assert_eq!(env.get("ENV_T1_C").map(String::as_str), Some("secret:new"));
    }

    #[test]
    fn invalid_names_change_nothing() {
        assert!(update(&req(&[("ENV_T2_OK", "1"), ("A=B", "x")], &[], None)).is_err());
        assert!(update(&req(&[], &[""], None)).is_err());
        assert!(update(&req(&[("ENV_T2_NUL", "a\0b")], &[], None)).is_err());
        assert!(!crate::proc::child_env([]).contains_key("ENV_T2_OK"));
    }
}
