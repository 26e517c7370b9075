//! File-system endpoints (`/files/...`, spec toolbox §3): [`FileInfo`], [`Match`],
//! [`FindOptions`]/[`FindResponse`] (our find extension),
//! [`SearchFilesResponse`], [`ReplaceRequest`]/[`ReplaceResult`], [`FilesDownloadRequest`],
//! [`UploadFilesResponse`], [`UploadedFile`], and the multipart field names of bulk upload.
//!
//! These are plain data: every field is public, construct them with struct literals. Reading is
//! lenient (absent optional fields, `null` lists read as empty), writing emits exactly the keys
//! the official daemon writes.

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_default;

/// One entry of `GET /files` and the answer of `GET /files/info`.
///
/// `mode` is Go's `FileMode.String()` (`-rw-r--r--`, `drwxr-xr-x`), `permissions` the nine
/// permission bits as `%04o` (`"0644"`), `owner`/`group` numeric ids as decimal strings,
/// `modTime` Go's `time.Time.String()` and `modifiedAt` RFC 3339 with nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Base name of the path as given.
    pub name: String,
    /// The requested path joined with the entry (relative if the request was); absent in
    /// `GET /files/info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Go `FileMode.String()`.
    pub mode: String,
    /// Deprecated Go `time.Time.String()` of the modification time.
    #[serde(default)]
    pub mod_time: String,
    /// RFC 3339 modification time with nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
    /// Whether the (followed) target is a directory.
    pub is_dir: bool,
    /// Numeric uid as a decimal string.
    #[serde(default)]
    pub owner: String,
    /// Numeric gid as a decimal string.
    #[serde(default)]
    pub group: String,
    /// The nine permission bits, `%04o`.
    #[serde(default)]
    pub permissions: String,
}

/// One match of `GET /files/find`: a line containing the pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Match {
    /// The file, as walked (relative if the request path was).
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The whole line without its line ending.
    pub content: String,
}

/// The optional flags of `GET /files/find`: our additive query parameters (spec §8.4). The
/// official SDKs send none of them, and without them find is what the original was: literal,
/// case-sensitive, every match, a JSON array of [`Match`].
///
/// - `regex=true`: `pattern` is a regular expression (RE2-like syntax, as Go's `regexp`),
///   matched against each line without its line ending;
/// - `caseInsensitive=true`: letters match in either case (Unicode simple case folding);
/// - `limit=N` (`N >= 1`): at most `N` matches, and the answer becomes a [`FindResponse`]
///   object whose `truncated` says whether more matches were left out.
///
/// Booleans are `true`/`false` (also `1`/`0`); an absent key is the default; other keys are
/// not flags and are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FindOptions {
    /// `pattern` is a regular expression.
    pub regex: bool,
    /// Letters match in either case.
    pub case_insensitive: bool,
    /// The result cap; `None` is no cap (and the plain array answer).
    pub limit: Option<u64>,
}

/// A find flag has a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FindOptionsError(String);

impl FindOptions {
    /// Query key of [`FindOptions::regex`].
    pub const REGEX: &'static str = "regex";
    /// Query key of [`FindOptions::case_insensitive`].
    pub const CASE_INSENSITIVE: &'static str = "caseInsensitive";
    /// Query key of [`FindOptions::limit`].
    pub const LIMIT: &'static str = "limit";

    /// Reads the flags from decoded query pairs (a repeated key: the last one wins).
    ///
    /// # Errors
    /// A boolean other than `true`/`false`/`1`/`0`, or a `limit` that is not an integer `>= 1`.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<FindOptions, FindOptionsError> {
        fn flag(key: &str, v: &str) -> Result<bool, FindOptionsError> {
            match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(FindOptionsError(format!("{key} must be true or false"))),
            }
        }
        let mut o = FindOptions::default();
        for (k, v) in pairs {
            match k {
                Self::REGEX => o.regex = flag(k, v)?,
                Self::CASE_INSENSITIVE => o.case_insensitive = flag(k, v)?,
                Self::LIMIT => match v.parse::<u64>() {
                    Ok(n) if n >= 1 => o.limit = Some(n),
                    _ => return Err(FindOptionsError("limit must be an integer >= 1".to_owned())),
                },
                _ => {}
            }
        }
        Ok(o)
    }

    /// The query pairs that encode these flags: only those that differ from the default, so
    /// a default `FindOptions` adds nothing to the request.
    #[must_use]
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.regex {
            out.push((Self::REGEX, "true".to_owned()));
        }
        if self.case_insensitive {
            out.push((Self::CASE_INSENSITIVE, "true".to_owned()));
        }
        if let Some(n) = self.limit {
            out.push((Self::LIMIT, n.to_string()));
        }
        out
    }
}

/// The answer of `GET /files/find` when a `limit` was given (our extension; without one the
/// answer is a plain array of [`Match`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindResponse {
    /// The first `limit` matches, in walk order then line order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub matches: Vec<Match>,
    /// More matches exist than were returned.
    #[serde(default)]
    pub truncated: bool,
}

/// The answer of `GET /files/search`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchFilesResponse {
    /// Matching paths, as walked.
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<String>,
}

/// The body of `POST /files/replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplaceRequest {
    /// Files to edit, in order.
    pub files: Vec<String>,
    /// Literal text to replace (non-empty).
    pub pattern: String,
    /// Replacement (may be empty; the key is required).
    pub new_value: String,
}

/// One file's outcome in the answer of `POST /files/replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplaceResult {
    /// The file, as requested.
    pub file: String,
    /// Whether the file was processed.
    pub success: bool,
    /// Why not, when `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `POST /files/bulk-download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilesDownloadRequest {
    /// Paths to download, in order (non-empty).
    pub paths: Vec<String>,
}

/// One written file in an [`UploadFilesResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadedFileEntry {
    /// The destination path, as sent.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
}

/// The answer of `POST /files/bulk-upload` (also on 400: it is not the error envelope).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadFilesResponse {
    /// Per-file errors, `"<dest>: <what failed>"`; omitted when none.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub errors: Vec<String>,
    /// The files written (always an array).
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<UploadedFileEntry>,
}

/// The answer of `POST /files/upload-v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadedFile {
    /// Base name of `path`.
    pub name: String,
    /// The path written, as requested.
    pub path: String,
    /// Always `"file"`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Bulk upload's multipart field name for the destination of file `index`: `files[<i>].path`.
pub fn upload_path_field(index: usize) -> String {
    format!("files[{index}].path")
}

/// Bulk upload's multipart field name for the content of file `index`: `files[<i>].file`.
pub fn upload_file_field(index: usize) -> String {
    format!("files[{index}].file")
}

/// Which bulk-upload field a multipart `name` is: `(index, is_path)`; `None` for other names.
/// The index is the text between `files[` and `].path` / `].file` (any string, as the
/// official daemon accepts).
///
/// ```
/// use process_proto::wire::parse_upload_field;
/// assert_eq!(parse_upload_field("files[3].path"), Some(("3", true)));
/// assert_eq!(parse_upload_field("files[x].file"), Some(("x", false)));
/// assert_eq!(parse_upload_field("other"), None);
/// ```
pub fn parse_upload_field(name: &str) -> Option<(&str, bool)> {
    let rest = name.strip_prefix("files[")?;
    if let Some(index) = rest.strip_suffix("].path") {
        return Some((index, true));
    }
    rest.strip_suffix("].file").map(|index| (index, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_options() -> impl Strategy<Value = FindOptions> {
        (any::<bool>(), any::<bool>(), proptest::option::of(1u64..)).prop_map(
            |(regex, case_insensitive, limit)| FindOptions {
                regex,
                case_insensitive,
                limit,
            },
        )
    }

    proptest! {
        /// Encoding then parsing gives the flags back, whatever other keys surround them.
        #[test]
        fn find_options_round_trip(o in arb_options(), before in "[a-z]{0,8}", after in "[a-z]{0,8}") {
            let pairs = o.query_pairs();
            let mut all: Vec<(&str, &str)> = vec![("path", before.as_str())];
            all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            all.push(("pattern", after.as_str()));
            prop_assert_eq!(FindOptions::from_query(all), Ok(o));
        }

        /// Any value never panics: it is a flag value or a clear error naming the key.
        #[test]
        fn find_options_never_panic(key in prop::sample::select(vec!["regex", "caseInsensitive", "limit", "x"]), value in ".{0,12}") {
            match FindOptions::from_query([(key, value.as_str())]) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.to_string().starts_with(key), "{}", e),
            }
        }
    }

    #[test]
    fn find_options_defaults_add_nothing() {
        assert!(FindOptions::default().query_pairs().is_empty());
        assert_eq!(FindOptions::from_query([]), Ok(FindOptions::default()));
        assert_eq!(
            FindOptions::from_query([("limit", "0")])
                .unwrap_err()
                .to_string(),
            "limit must be an integer >= 1"
        );
        assert_eq!(
            FindOptions::from_query([("regex", "yes")])
                .unwrap_err()
                .to_string(),
            "regex must be true or false"
        );
        let last = FindOptions::from_query([("regex", "1"), ("regex", "false"), ("limit", "7")]);
        assert_eq!(
            last,
            Ok(FindOptions {
                regex: false,
                case_insensitive: false,
                limit: Some(7)
            })
        );
        let r: FindResponse = crate::wire::decode(br#"{"matches":null}"#).unwrap();
        assert_eq!(r, FindResponse::default());
    }

    #[test]
    fn file_info_reads_without_optional_fields() {
        let info: FileInfo = crate::wire::decode(
            br#"{"name":"a","size":3,"mode":"-rw-r--r--","modTime":"x","isDir":false,"owner":"0","group":"0","permissions":"0644"}"#,
        )
        .unwrap();
        assert_eq!(info.path, None);
        assert_eq!(info.modified_at, None);
        let back = String::from_utf8(crate::wire::encode(&info)).unwrap();
        assert!(!back.contains("path"), "{back}");
    }

    #[test]
    fn upload_response_omits_empty_errors() {
        let ok = UploadFilesResponse {
            errors: vec![],
            files: vec![UploadedFileEntry {
                path: "a".into(),
                bytes: 1,
            }],
        };
        assert_eq!(
            crate::wire::encode(&ok),
            br#"{"files":[{"path":"a","bytes":1}]}"#
        );
        let empty: UploadFilesResponse = crate::wire::decode(br#"{"files":null}"#).unwrap();
        assert!(empty.files.is_empty());
    }

    #[test]
    fn uploaded_file_has_type() {
        let f = UploadedFile {
            name: "a".into(),
            path: "d/a".into(),
            kind: "file".into(),
        };
        assert_eq!(
            crate::wire::encode(&f),
            br#"{"name":"a","path":"d/a","type":"file"}"#
        );
    }
}
