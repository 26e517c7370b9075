//! `sbx create|ls|start|stop|rm`: sandbox lifecycle through the control plane
//! (`process::Sandboxes`: sandboxd or a Daytona deployment).

use std::process::ExitCode;

use process::{CreateSandboxParams, Resources};

use crate::cli::CreateArgs;
use crate::connect::sandboxes;
use crate::error::SbxError;
use crate::Ctx;

/// `sbx create`: prints the new sandbox's id.
pub(crate) async fn create(ctx: &Ctx, args: CreateArgs) -> Result<ExitCode, SbxError> {
    let control = sandboxes(&ctx.conn)?;
    let mut params = match &args.image {
        Some(image) => CreateSandboxParams::image(image),
        None => CreateSandboxParams::new(),
    };
    if let Some(name) = args.name {
        params = params.name(name);
    }
    for (k, v) in args.env {
        params = params.env(k, v);
    }
    if args.cpu.is_some() || args.memory.is_some() {
        params = params.resources(Resources {
            cpu: args.cpu,
            memory: args.memory,
            disk: None,
        });
    }
    if let Some(minutes) = args.auto_stop {
        params = params.auto_stop_interval(minutes);
    }
    let sandbox = control
        .create(params)
        .await
        .map_err(|e| SbxError::remote("creating a sandbox", e))?;
    if ctx.json {
        crate::print_json(&serde_json::to_value(sandbox.info()).unwrap_or_default());
    } else {
        println!("{}", sandbox.id());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sbx ls`.
pub(crate) async fn list(ctx: &Ctx) -> Result<ExitCode, SbxError> {
    let control = sandboxes(&ctx.conn)?;
    let all = control
        .list()
        .await
        .map_err(|e| SbxError::remote("listing sandboxes", e))?;
    if ctx.json {
        let infos: Vec<_> = all
            .iter()
            .map(|s| serde_json::to_value(s.info()).unwrap_or_default())
            .collect();
        crate::print_json(&serde_json::Value::Array(infos));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<38} {:<24} {:<12} {:>4} {:>7}",
        "ID", "NAME", "STATE", "CPU", "MEMORY"
    );
    for s in &all {
        let info = s.info();
        println!(
            "{:<38} {:<24} {:<12} {:>4} {:>6}G",
            s.id(),
            s.name(),
            s.state().as_str(),
            info.cpu,
            info.memory
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Which lifecycle call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lifecycle {
    /// `sbx start`.
    Start,
    /// `sbx stop`.
    Stop,
    /// `sbx rm`.
    Remove,
}

/// `sbx start|stop|rm ID`.
pub(crate) async fn lifecycle(ctx: &Ctx, id: &str, what: Lifecycle) -> Result<ExitCode, SbxError> {
    let control = sandboxes(&ctx.conn)?;
    let sandbox = control
        .get(id)
        .await
        .map_err(|e| SbxError::remote(format!("finding sandbox '{id}'"), e))?;
    let after = match what {
        Lifecycle::Start => Some(
            control
                .start(&sandbox)
                .await
                .map_err(|e| SbxError::remote(format!("starting '{id}'"), e))?,
        ),
        Lifecycle::Stop => Some(
            control
                .stop(&sandbox)
                .await
                .map_err(|e| SbxError::remote(format!("stopping '{id}'"), e))?,
        ),
        Lifecycle::Remove => {
            control
                .delete(&sandbox)
                .await
                .map_err(|e| SbxError::remote(format!("removing '{id}'"), e))?;
            None
        }
    };
    if ctx.json {
        let v = after.as_ref().map_or(
            serde_json::json!({"id": sandbox.id(), "deleted": true}),
            |s| serde_json::to_value(s.info()).unwrap_or_default(),
        );
        crate::print_json(&v);
    }
    Ok(ExitCode::SUCCESS)
}
