//! Find (grep), search (glob) and replace, with our find flags ([`FindOptions`]).

use http::Method;
use process_proto::wire::{
    endpoint, FindOptions, FindResponse, Match, ReplaceRequest, ReplaceResult, SearchFilesResponse,
};

use super::{q, Fs};
use crate::error::{Context, Error};

impl Fs<'_> {
    /// `find_files(path, pattern)`: lines containing the literal `pattern` (grep).
    pub async fn find_files(&self, path: &str, pattern: &str) -> Result<Vec<Match>, Error> {
        self.client
            .get_json(
                &Context::new("find_files"),
                &format!(
                    "{}?path={}&pattern={}",
                    endpoint::FILES_FIND,
                    q(path),
                    q(pattern)
                ),
            )
            .await
    }

    /// [`Fs::find_files`] with our flags (an extension the SDKs lack): a regex, case-insensitive
    /// matching, and a cap. `truncated` is true when the cap left matches out. A default
    /// [`FindOptions`] sends the SDK's request exactly.
    ///
    /// ```no_run
    /// # async fn f(client: &process::Client) -> Result<(), process::Error> {
    /// use process::FindOptions;
    /// let opts = FindOptions { regex: true, case_insensitive: true, limit: Some(100) };
    /// let found = client.fs().find_files_with("src", r"todo|fixme", &opts).await?;
    /// for m in &found.matches {
    ///     println!("{}:{}: {}", m.file, m.line, m.content);
    /// }
    /// if found.truncated {
    ///     println!("(more than 100 matches)");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn find_files_with(
        &self,
        path: &str,
        pattern: &str,
        opts: &FindOptions,
    ) -> Result<FindResponse, Error> {
        let mut uri = format!(
            "{}?path={}&pattern={}",
            endpoint::FILES_FIND,
            q(path),
            q(pattern)
        );
        for (k, v) in opts.query_pairs() {
            uri.push('&');
            uri.push_str(k);
            uri.push('=');
            uri.push_str(&q(&v));
        }
        let ctx = Context::new("find_files");
        if opts.limit.is_some() {
            return self.client.get_json(&ctx, &uri).await;
        }
        let matches: Vec<Match> = self.client.get_json(&ctx, &uri).await?;
        Ok(FindResponse {
            matches,
            truncated: false,
        })
    }

    /// `search_files(path, pattern)`: paths whose name matches the glob (`*.py`; `**/x.rs` and
    /// `{a,b}` too).
    pub async fn search_files(&self, path: &str, pattern: &str) -> Result<Vec<String>, Error> {
        let r: SearchFilesResponse = self
            .client
            .get_json(
                &Context::new("search_files"),
                &format!(
                    "{}?path={}&pattern={}",
                    endpoint::FILES_SEARCH,
                    q(path),
                    q(pattern)
                ),
            )
            .await?;
        Ok(r.files)
    }

    /// `replace_in_files(files, pattern, new_value)`: literal replacement, per-file results.
    pub async fn replace_in_files(
        &self,
        files: &[&str],
        pattern: &str,
        new_value: &str,
    ) -> Result<Vec<ReplaceResult>, Error> {
        let ctx = Context::new("replace_in_files");
        let body = ReplaceRequest {
            files: files.iter().map(|s| (*s).to_owned()).collect(),
            pattern: pattern.to_owned(),
            new_value: new_value.to_owned(),
        };
        self.client
            .send_json(
                &ctx,
                Method::POST,
                endpoint::FILES_REPLACE.template(),
                &body,
                None,
            )
            .await?
            .json(&ctx)
    }
}
