//! Running each command: one connection to the coordinator, one call, then the output.
//!
//! Text goes to stdout, or JSON with `--json`; errors are returned as a [`Failure`] and printed
//! by [`crate::run`]. The formatting itself lives in [`crate::text`] and [`crate::json`].

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use seaf_backup_proto::admin::sync_progress::Phase;
use seaf_backup_proto::admin::{
    FailoverRequest, GetLibraryRequest, LibraryState, ListLibrariesRequest, RetryRequest, StatusRequest, SyncProgress,
    SyncRequest,
};
use serde_json::Value;

use crate::args::{Cli, Command, FailoverArgs, LibrariesArgs, LibraryArgs, RetryArgs, SyncArgs};
use crate::connect::{Client, admin_token, connect, describe_status, normalize_url};
use crate::progress::SyncDisplay;
use crate::{Failure, json, text};
use seaf_backup_proto::TokenInterceptor;
use seaf_backup_service::grpc_tls::ClientTls;

/// What every command needs: where the coordinator is and how to reach it, how long to wait,
/// how to print.
struct Ctx {
    url: String,
    tls: ClientTls,
    token: TokenInterceptor,
    timeout: Duration,
    json: bool,
}

impl Ctx {
    async fn connect(&self) -> Result<Client, Failure> {
        connect(&self.url, self.timeout, &self.tls, &self.token).await
    }
}

/// Runs the command line's command.
pub async fn run(cli: &Cli) -> Result<(), Failure> {
    let g = &cli.global;
    let ctx = Ctx {
        url: normalize_url(&g.coordinator)?,
        tls: ClientTls {
            ca_cert: g.ca_cert.clone(),
            client_cert: g.client_cert.clone(),
            client_key: g.client_key.clone(),
            domain: g.tls_domain.clone(),
        },
        token: admin_token(g.token_file.as_deref())?,
        timeout: Duration::from_secs(g.timeout),
        json: g.json,
    };
    match &cli.command {
        Command::Status => status(&ctx).await,
        Command::Sync(a) => sync(&ctx, a).await,
        Command::Libraries(a) => libraries(&ctx, a).await,
        Command::Library(a) => library(&ctx, a).await,
        Command::Retry(a) => retry(&ctx, a).await,
        Command::Failover(a) => failover(&ctx, a).await,
    }
}

async fn failover(ctx: &Ctx, a: &FailoverArgs) -> Result<(), Failure> {
    let mut client = ctx.connect().await?;
    let r = unary(ctx, "failover", client.failover(FailoverRequest { apply: a.apply })).await?;
    print(ctx, || json::failover(&r), || text::failover_text(&r));
    Ok(())
}

async fn status(ctx: &Ctx) -> Result<(), Failure> {
    let mut client = ctx.connect().await?;
    let s = unary(ctx, "status", client.status(StatusRequest {})).await?;
    print(ctx, || json::status(&s), || text::status_text(&s));
    Ok(())
}

async fn libraries(ctx: &Ctx, a: &LibrariesArgs) -> Result<(), Failure> {
    let mut client = ctx.connect().await?;
    let state = a.state.map_or(LibraryState::Unspecified, LibraryState::from) as i32;
    let r = unary(ctx, "the library list", client.list_libraries(ListLibrariesRequest { state })).await?;
    print(ctx, || json::libraries(&r.libraries), || text::libraries_table(&r.libraries));
    Ok(())
}

async fn library(ctx: &Ctx, a: &LibraryArgs) -> Result<(), Failure> {
    let mut client = ctx.connect().await?;
    let what = format!("library {}", a.repo_id);
    let l = unary(ctx, &what, client.get_library(GetLibraryRequest { repo_id: a.repo_id.to_string() })).await?;
    print(ctx, || json::library(&l), || text::library_text(&l));
    Ok(())
}

async fn retry(ctx: &Ctx, a: &RetryArgs) -> Result<(), Failure> {
    let mut client = ctx.connect().await?;
    let repo_id = a.repo_id.as_ref().map(ToString::to_string).unwrap_or_default();
    let r = unary(ctx, "retry", client.retry(RetryRequest { repo_id })).await?;
    print(ctx, || json::retry(r.queued), || text::retry_text(r.queued));
    Ok(())
}

/// Streams the progress of the sync until its final phase. Errors before any progress arrived
/// are request errors (exit 2); after that, a broken stream is a failed sync (exit 1).
async fn sync(ctx: &Ctx, a: &SyncArgs) -> Result<(), Failure> {
    let id = &a.repo_id;
    let mut client = ctx.connect().await?;
    let what = format!("the sync of library {id}");
    let request = SyncRequest { repo_id: id.to_string(), force: a.force };
    let mut stream = unary(ctx, &what, client.sync(request)).await?;

    let display = SyncDisplay::new(id.as_str());
    let mut last: Option<SyncProgress> = None;
    let broken = loop {
        match stream.message().await {
            Ok(Some(p)) => {
                display.update(&p);
                let end = is_final(p.phase);
                last = Some(p);
                if end {
                    break None;
                }
            }
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    display.finish();

    let Some(last) = last else {
        return Err(match broken {
            Some(status) => Failure::error(describe_status(&status, &ctx.url, &what)),
            None => Failure::sync(format!("the coordinator ended {what} without reporting any progress")),
        });
    };
    if ctx.json {
        emit_json(&json::progress(&last, id.as_str()));
    }
    if let Some(status) = broken {
        return Err(Failure::sync(format!(
            "the progress stream of library {id} broke: {}",
            describe_status(&status, &ctx.url, &what)
        )));
    }
    match Phase::try_from(last.phase) {
        Ok(Phase::Done) => {
            if !ctx.json {
                emit(&text::sync_done_text(id, &last));
            }
            Ok(())
        }
        Ok(Phase::Failed) => Err(Failure::sync(text::sync_failed_message(id, &last))),
        _ => Err(Failure::sync(format!(
            "the coordinator ended the progress stream of library {id} before it was backed up or failed \
             (last phase: {})",
            text::phase_name(last.phase)
        ))),
    }
}

fn is_final(phase: i32) -> bool {
    matches!(Phase::try_from(phase), Ok(Phase::Done | Phase::Failed))
}

/// Awaits one call, at most `ctx.timeout`, and words its failure.
async fn unary<T>(
    ctx: &Ctx,
    what: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(ctx.timeout, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(Failure::error(describe_status(&status, &ctx.url, what))),
        Err(_) => Err(Failure::error(format!(
            "the coordinator at {} did not answer {what} within {} s",
            ctx.url,
            ctx.timeout.as_secs()
        ))),
    }
}

/// Prints the JSON or the text form of a result.
fn print(ctx: &Ctx, as_json: impl FnOnce() -> Value, as_text: impl FnOnce() -> String) {
    if ctx.json { emit_json(&as_json()) } else { emit(&as_text()) }
}

fn emit_json(v: &Value) {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    emit(&s);
}

/// Writes to stdout, ignoring write errors: a closed pipe (`seaf-backup libraries | head`) does not
/// make the command fail.
fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}
