//! Checks of what the manager hands the provider: sandbox ids (path components) and
//! resources. Plain functions.

use crate::provider::{ProviderError, Resources};

/// A sandbox id is a path component: letters, digits, `-` and `_`, at most 64.
pub(super) fn check_id(id: &str) -> Result<(), ProviderError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ProviderError::Runtime(format!(
            "invalid sandbox id '{id}': use letters, digits, '-' and '_' (at most 64)"
        )));
    }
    Ok(())
}

pub(super) fn check_resources(r: Resources) -> Result<(), ProviderError> {
    if r.cpu == 0 {
        return Err(ProviderError::InvalidResources(
            "cpu must be at least 1".into(),
        ));
    }
    if r.memory_gib == 0 {
        return Err(ProviderError::InvalidResources(
            "memory must be at least 1 GiB".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_components() {
        for ok in ["a", "0b3c-4d_e", &"x".repeat(64)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a/b", "a b", &"x".repeat(65), "é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_resources_are_refused() {
        let ok = Resources {
            cpu: 1,
            memory_gib: 1,
            disk_gib: 0,
        };
        assert!(check_resources(ok).is_ok());
        assert!(matches!(
            check_resources(Resources { cpu: 0, ..ok }),
            Err(ProviderError::InvalidResources(_))
        ));
        assert!(matches!(
            check_resources(Resources {
                memory_gib: 0,
                ..ok
            }),
            Err(ProviderError::InvalidResources(_))
        ));
    }
}
