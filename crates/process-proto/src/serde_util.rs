//! Small serde helpers shared by the wire and chart types (lenient readers).

use serde::{Deserialize, Deserializer};

/// Reads `null` (or an absent field, together with `#[serde(default)]`) as `T::default()`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A JSON scalar read leniently as text: a string as is, a number in its JSON spelling,
/// a boolean as `true`/`false`, `null` as `None`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

/// Reads a string, number or boolean as `Some(String)`, `null` as `None`.
pub(crate) fn lenient_string<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::Text(t) => t,
        Scalar::Number(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }))
}

/// Like [`lenient_string`] but `null` reads as the empty string.
pub(crate) fn lenient_string_or_empty<'de, D>(d: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    lenient_string(d).map(Option::unwrap_or_default)
}

/// `skip_serializing_if` helper for strings.
pub(crate) fn is_empty(s: &str) -> bool {
    s.is_empty()
}
