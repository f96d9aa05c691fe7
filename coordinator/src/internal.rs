//! `seafbackup.internal.v1.CoordinatorService`: the gateway's notifications and the fetchers'
//! job protocol. Each handler is a thin translation to [`Coordinator`].

use std::sync::Arc;
use std::time::Duration;

use seaf_backup_proto::internal::coordinator_service_server::CoordinatorService;
use seaf_backup_proto::internal::*;
use seaf_backup_service::trace_context;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::coordinator::Coordinator;

pub struct Internal {
    pub c: Arc<Coordinator>,
}

/// Fetcher names end up in logs and Redis; keep them short and printable.
fn fetcher_id(s: &str) -> Result<&str, Status> {
    if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Status::invalid_argument("fetcher_id: 1 to 128 printable ASCII characters"));
    }
    Ok(s)
}

#[tonic::async_trait]
impl CoordinatorService for Internal {
    async fn notify(&self, req: Request<NotifyRequest>) -> Result<Response<NotifyResponse>, Status> {
        let span = tracing::info_span!("notify", changes = req.get_ref().changes.len());
        trace_context::adopt_from_metadata(&span, req.metadata());
        let req = req.into_inner();
        if req.changes.len() > 10_000 {
            return Err(Status::invalid_argument("changes: at most 10000 per request"));
        }
        let accepted = self.c.notify(&req.changes, &req.source).instrument(span).await?;
        Ok(Response::new(NotifyResponse { accepted }))
    }

    async fn lease(&self, req: Request<LeaseRequest>) -> Result<Response<LeaseResponse>, Status> {
        let req = req.into_inner();
        let job = self.c.lease(fetcher_id(&req.fetcher_id)?, Duration::from_millis(req.wait_ms.into())).await?;
        Ok(Response::new(LeaseResponse { job }))
    }

    async fn heartbeat(&self, req: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        let req = req.into_inner();
        let keep_going = self.c.heartbeat(&req.job_id, fetcher_id(&req.fetcher_id)?, req.progress).await?;
        Ok(Response::new(HeartbeatResponse { keep_going }))
    }

    async fn report(&self, req: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        // The fetcher's job span is the parent: the publish ends the job's trace.
        let span = tracing::info_span!("report", job = %req.get_ref().job_id);
        trace_context::adopt_from_metadata(&span, req.metadata());
        let req = req.into_inner();
        fetcher_id(&req.fetcher_id)?;
        Ok(Response::new(self.c.report(req).instrument(span).await?))
    }
}
