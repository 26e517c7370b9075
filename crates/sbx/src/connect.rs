//! Reaching a sandbox's process API: straight to one processd (`--daemon`), or through the
//! control plane (`DAYTONA_API_URL` / `DAYTONA_API_KEY`).

use crate::cli::Connection;
use crate::error::SbxError;

/// The sandbox ID that names the daemon given with `--daemon`.
pub(crate) const LOCAL: &str = "local";

/// The process client for sandbox `id`.
pub(crate) async fn process_client(
    conn: &Connection,
    id: &str,
) -> Result<process::Client, SbxError> {
    if let Some(url) = &conn.daemon {
        if id != LOCAL {
            return Err(SbxError::Usage(format!(
                "with --daemon the sandbox is that daemon: use '{LOCAL}' as its ID, not '{id}'"
            )));
        }
        let mut builder = process::Client::builder(url.clone());
        if let Some(token) = conn.token.as_deref().filter(|t| !t.is_empty()) {
            builder = builder.token(token);
        }
        return builder
            .build()
            .map_err(|e| SbxError::remote(format!("cannot use daemon URL '{url}'"), e));
    }
    let control = sandboxes(conn)?;
    let sandbox = control
        .get(id)
        .await
        .map_err(|e| SbxError::remote(format!("finding sandbox '{id}'"), e))?;
    Ok(sandbox.process().clone())
}

/// The control plane given by `--api-url`/`DAYTONA_API_URL` and `--api-key`/`DAYTONA_API_KEY`.
pub(crate) fn sandboxes(conn: &Connection) -> Result<process::Sandboxes, SbxError> {
    if conn.daemon.is_some() {
        return Err(SbxError::Usage(
            "--daemon reaches one processd, which has no sandboxes to manage: set DAYTONA_API_URL \
             and DAYTONA_API_KEY (or --api-url/--api-key) for a control plane"
                .to_owned(),
        ));
    }
    let (Some(url), Some(key)) = (conn.api_url.as_deref(), conn.api_key.as_deref()) else {
        return Err(SbxError::Usage(
            "no sandbox service given: set DAYTONA_API_URL and DAYTONA_API_KEY (or --api-url and \
             --api-key) for a control plane, or pass --daemon URL for one processd"
                .to_owned(),
        ));
    };
    process::Sandboxes::connect(url, key)
        .map_err(|e| SbxError::remote(format!("cannot use the control plane at '{url}'"), e))
}

/// Shell text for a command given as arguments: one argument is shell text as it is; several
/// are a program and its arguments, each quoted.
pub(crate) fn shell_command(args: &[String]) -> String {
    if let [one] = args {
        return one.clone();
    }
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// `a` quoted for a POSIX shell (left bare when it is only safe characters).
pub(crate) fn quote(a: &str) -> String {
    let safe = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_only_when_several() {
        assert_eq!(shell_command(&["cd /tmp && ls".into()]), "cd /tmp && ls");
        assert_eq!(
            shell_command(&[
                "ls".into(),
                "-l".into(),
                "my dir".into(),
                "it's".into(),
                String::new()
            ]),
            r"ls -l 'my dir' 'it'\''s' ''"
        );
    }
}
