//! The wire types of seaf-backup's gRPC APIs, kept apart from the code that serves them.
//!
//! * [`admin`] (`seafbackup.admin.v1`): what administrators use, through the `seaf-backup` CLI or
//!   grpcurl — status, sync (streamed progress), libraries, retry;
//! * [`internal`] (`seafbackup.internal.v1`): the gateway's notifications and the fetchers' job
//!   protocol (lease, heartbeat, report) towards the coordinator;
//! * [`ApiError`]: the one small map from what went wrong to a gRPC status code, and the id
//!   parsers every handler runs before it touches storage or SQL.

/// `seafbackup.admin.v1`.
pub mod admin {
    tonic::include_proto!("seafbackup.admin.v1");
}

/// `seafbackup.internal.v1`.
pub mod internal {
    tonic::include_proto!("seafbackup.internal.v1");

    /// By hand, to leave out `sync_token`: a job may be logged, its token never.
    impl std::fmt::Debug for Job {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Job")
                .field("job_id", &self.job_id)
                .field("repo_id", &self.repo_id)
                .field("store_id", &self.store_id)
                .field("head", &self.head)
                .field("force", &self.force)
                .field("attempt", &self.attempt)
                .field("lease_ms", &self.lease_ms)
                .field("base_head", &self.base_head)
                .field("sync_token", &if self.sync_token.is_empty() { "" } else { "[redacted]" })
                .field("traceparent", &self.traceparent)
                .finish()
        }
    }
}

/// Encoded descriptors of every service here, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("seafbackup_descriptor");

use seaf_objects::{ObjectId, RepoId};

/// What a handler can fail with, each kind with its one gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A malformed id or request field (the caller must change the request).
    #[error("{0}")]
    InvalidArgument(String),
    /// An unknown library or job.
    #[error("{0}")]
    NotFound(String),
    /// A dependency (MySQL, Redis, the primary) is down; retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The request is valid but the state does not allow it (e.g. a lease that was lost).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A bug or an unexpected state; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> tonic::Code {
        match self {
            ApiError::InvalidArgument(_) => tonic::Code::InvalidArgument,
            ApiError::NotFound(_) => tonic::Code::NotFound,
            ApiError::Unavailable(_) => tonic::Code::Unavailable,
            ApiError::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            ApiError::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> tonic::Status {
        tonic::Status::new(e.code(), e.to_string())
    }
}

/// The metadata key of the internal API's credential: `authorization: Token <sync_token>`, the
/// scheme seaf-server uses for its own notifications.
pub const AUTHORIZATION: &str = "authorization";

/// The `authorization` value `Token <token>`, marked sensitive so it is never logged; `what`
/// names the token in the error.
fn token_value(token: &str, what: &str) -> Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>, ApiError> {
    let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = format!("Token {token}")
        .parse()
        .map_err(|_| ApiError::InvalidArgument(format!("{what} must be printable ASCII")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A request to the internal API carrying the shared token (marked sensitive, so never logged).
pub fn with_token<T>(message: T, token: &str) -> Result<tonic::Request<T>, ApiError> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(AUTHORIZATION, token_value(token, "the sync token")?);
    Ok(req)
}

/// The token a request to the internal API carries, if any.
pub fn token_of<T>(req: &tonic::Request<T>) -> Option<&[u8]> {
    req.metadata().get(AUTHORIZATION)?.as_bytes().strip_prefix(b"Token ")
}

/// The server side of a token check: lets the request through when `matches` accepts its token,
/// else `UNAUTHENTICATED` saying which token was expected (`what`), never the token itself.
pub fn require_token<T>(
    req: tonic::Request<T>,
    what: &str,
    matches: impl FnOnce(&[u8]) -> bool,
) -> Result<tonic::Request<T>, tonic::Status> {
    match token_of(&req) {
        Some(t) if matches(t) => Ok(req),
        Some(_) => Err(tonic::Status::unauthenticated(format!("invalid {what}"))),
        None => Err(tonic::Status::unauthenticated(format!("missing authorization: Token <{what}>"))),
    }
}

/// A client interceptor that adds `authorization: Token <token>` (marked sensitive) to every
/// request; it adds nothing when built without a token.
#[derive(Clone, Default)]
pub struct TokenInterceptor(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl TokenInterceptor {
    pub fn new(token: Option<&str>) -> Result<TokenInterceptor, ApiError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(TokenInterceptor(None)) };
        Ok(TokenInterceptor(Some(token_value(token, "a token")?)))
    }
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(AUTHORIZATION, v.clone());
        }
        Ok(req)
    }
}

/// Parses a library id field of a request.
pub fn repo_id(field: &str, value: &str) -> Result<RepoId, ApiError> {
    RepoId::parse(value).map_err(|e| ApiError::InvalidArgument(format!("{field}: {e}")))
}

/// Parses an object id field of a request.
pub fn object_id(field: &str, value: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse(value).map_err(|e| ApiError::InvalidArgument(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_jobs_debug_leaves_its_token_out() {
        let job = internal::Job { repo_id: "r".into(), sync_token: "0123abcd".repeat(5), ..Default::default() };
        let shown = format!("{job:?}");
        assert!(!shown.contains("0123abcd") && shown.contains("[redacted]") && shown.contains("\"r\""), "{shown}");
    }

    #[test]
    fn each_error_has_its_code() {
        let cases = [
            (ApiError::InvalidArgument("x".into()), tonic::Code::InvalidArgument),
            (ApiError::NotFound("x".into()), tonic::Code::NotFound),
            (ApiError::Unavailable("x".into()), tonic::Code::Unavailable),
            (ApiError::FailedPrecondition("x".into()), tonic::Code::FailedPrecondition),
            (ApiError::Internal("x".into()), tonic::Code::Internal),
        ];
        for (e, code) in cases {
            let status = tonic::Status::from(e);
            assert_eq!((status.code(), status.message()), (code, "x"));
        }
    }

    #[test]
    fn ids_are_validated() {
        assert!(repo_id("repo_id", "3f9e4aa5-d6ba-4066-a1d6-81824f422af1").is_ok());
        let err = repo_id("repo_id", "'; DROP TABLE Branch; --").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.to_string().starts_with("repo_id: invalid library id"), "{err}");
        assert!(object_id("head", &"a".repeat(40)).is_ok());
        assert_eq!(object_id("head", "../x").unwrap_err().code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn the_token_travels_in_metadata() {
        let req = with_token((), "s3cr3t").unwrap();
        assert_eq!(token_of(&req), Some(&b"s3cr3t"[..]));
        assert!(req.metadata().get(AUTHORIZATION).unwrap().is_sensitive());
        assert_eq!(token_of(&tonic::Request::new(())), None);
        assert!(with_token((), "bad\ntoken").is_err());
    }

    #[test]
    fn tokens_are_required_and_never_echoed() {
        use tonic::service::Interceptor;
        let mut add = TokenInterceptor::new(Some("adm1n")).unwrap();
        let req = add.call(tonic::Request::new(())).unwrap();
        assert!(req.metadata().get(AUTHORIZATION).unwrap().is_sensitive());
        assert!(require_token(req, "admin_token", |t| t == b"adm1n").is_ok());

        let wrong = TokenInterceptor::new(Some("guess")).unwrap().call(tonic::Request::new(())).unwrap();
        let e = require_token(wrong, "admin_token", |t| t == b"adm1n").unwrap_err();
        assert_eq!((e.code(), e.message()), (tonic::Code::Unauthenticated, "invalid admin_token"));
        let none = TokenInterceptor::new(None).unwrap().call(tonic::Request::new(())).unwrap();
        let e = require_token(none, "admin_token", |_| true).unwrap_err();
        assert_eq!(e.message(), "missing authorization: Token <admin_token>");
        assert!(TokenInterceptor::new(Some("")).unwrap().0.is_none());
        assert!(TokenInterceptor::new(Some("a\nb")).is_err());
    }

    #[test]
    fn descriptor_set_holds_both_services() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let services: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter().map(move |s| format!("{}.{}", f.package(), s.name())))
            .collect();
        assert_eq!(services, ["seafbackup.admin.v1.AdminService", "seafbackup.internal.v1.CoordinatorService"]);
    }

    #[test]
    fn messages_round_trip() {
        let job = internal::Job { job_id: "j".into(), repo_id: "r".into(), lease_ms: 30_000, ..Default::default() };
        let bytes = internal::LeaseResponse { job: Some(job.clone()) }.encode_to_vec();
        assert_eq!(internal::LeaseResponse::decode(&bytes[..]).unwrap().job, Some(job));
        assert_eq!(internal::LeaseResponse::decode(&[][..]).unwrap().job, None, "no job is distinguishable");
    }
}
