//! Request parsing, free of IO: JSON bodies, the list query, path intervals and flags, each
//! failing with the 400 (or 413) the edge answers.

use axum::http::StatusCode;

use super::ApiError;
use crate::manager::ListQuery;

/// Largest JSON body accepted on the REST routes.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// The JSON body as `T`; an empty (or all-blank) body is `T::default()`.
pub(super) fn parse_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.len() > MAX_JSON_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_JSON_BODY} bytes"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// Parses the list query (spec §5.2): `%20` and `+` both decode, arrays repeat.
pub(super) fn list_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        limit: 100,
        descending: true,
        ..ListQuery::default()
    };
    let num = |k: &str, v: &str| -> Result<u32, ApiError> {
        v.parse()
            .map_err(|_| ApiError::bad_request(format!("{k} must be a non-negative integer")))
    };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match &*k {
            "cursor" => {
                q.offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid cursor {v:?}")))?;
            }
            "limit" => {
                let n = num("limit", &v)?;
                if !(1..=200).contains(&n) {
                    return Err(ApiError::bad_request("limit must be between 1 and 200"));
                }
                q.limit = n as usize;
            }
            "id" => q.id = Some(v),
            "name" => q.name = Some(v),
            "labels" => {
                q.labels = serde_json::from_str(&v)
                    .map_err(|_| ApiError::bad_request("Invalid labels JSON format"))?;
            }
            "states" => {
                if v == "destroyed" {
                    return Err(ApiError::bad_request(
                        "states must not contain destroyed (destroyed sandboxes are not listed)",
                    ));
                }
                q.states.push(v);
            }
            "snapshots" => q.snapshots.push(v),
            "minCpu" => q.min_cpu = Some(num(&k, &v)?),
            "maxCpu" => q.max_cpu = Some(num(&k, &v)?),
            "minMemoryGiB" => q.min_memory = Some(num(&k, &v)?),
            "maxMemoryGiB" => q.max_memory = Some(num(&k, &v)?),
            "minDiskGiB" => q.min_disk = Some(num(&k, &v)?),
            "maxDiskGiB" => q.max_disk = Some(num(&k, &v)?),
            "sort" => {
                if !matches!(
                    v.as_str(),
                    "name" | "cpu" | "memoryGib" | "diskGib" | "lastActivityAt" | "createdAt"
                ) {
                    return Err(ApiError::bad_request(format!("invalid sort field {v:?}")));
                }
                q.sort = Some(v);
            }
            "order" => {
                q.descending = match v.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(ApiError::bad_request("order must be asc or desc")),
                };
            }
            // Filters of the hosted service that mean nothing here (regions, classes, times,
            // public, recoverable) are accepted and ignored, like unknown keys.
            _ => {}
        }
    }
    Ok(q)
}

/// A path segment holding whole minutes.
pub(super) fn minutes(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "interval {text:?} is not a whole number of minutes"
        ))
    })
}

/// The `force` flag of a stop's query (`true`/`1`, `false`/`0`/empty; absent: false).
pub(super) fn force(query: Option<&str>) -> Result<bool, ApiError> {
    let mut force = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "force" {
            force = match &*v {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => return Err(ApiError::bad_request("force must be true or false")),
            };
        }
    }
    Ok(force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_decodes_both_space_spellings_and_repeats() {
        let q = list_query(Some(
            "labels=%7B%22team%22%3A%20%22x%20y%22%7D&states=started&states=stopped&minCpu=1&sort=createdAt&order=asc&limit=2&cursor=4",
        ))
        .unwrap();
        assert_eq!(q.labels["team"], "x y");
        assert_eq!(q.states, ["started", "stopped"]);
        assert_eq!(
            (q.min_cpu, q.limit, q.offset, q.descending),
            (Some(1), 2, 4, false)
        );
        let ts = list_query(Some("labels=%7B%22team%22%3A%22x+y%22%7D")).unwrap();
        assert_eq!(ts.labels["team"], "x y");
        assert!(list_query(Some("labels=nope")).is_err());
        assert!(list_query(Some("limit=0")).is_err());
    }

    #[test]
    fn force_and_minutes_parse_or_answer_400() {
        assert!(!force(None).unwrap());
        assert!(force(Some("force=true")).unwrap());
        assert!(!force(Some("x=1&force=0")).unwrap());
        assert_eq!(
            force(Some("force=yes")).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(minutes("-1").unwrap(), -1);
        assert!(minutes("1.5").is_err());
    }
}
