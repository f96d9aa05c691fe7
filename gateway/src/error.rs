//! The one error type of the HTTP API: a status code and a message, always answered as
//! `{"error": "<message>"}` so scripts and operators get the same shape from every route.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn unavailable(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// How a failed coordinator call is answered: 503 when retrying later may work, 502 otherwise.
    pub fn from_coordinator(status: &tonic::Status) -> HttpError {
        use tonic::Code;
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Cancelled | Code::Aborted => {
                HttpError::unavailable(format!("coordinator unavailable: {}", status.message()))
            }
            code => HttpError::new(
                StatusCode::BAD_GATEWAY,
                format!("coordinator failed ({}): {}", code.description(), status.message()),
            ),
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response();
        // RFC 9110 wants a challenge with every 401; "Token" is the scheme both routes use.
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_codes_map_to_gateway_statuses() {
        let e = HttpError::from_coordinator(&tonic::Status::unavailable("down"));
        assert_eq!((e.status, e.message.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "coordinator unavailable: down"));
        let e = HttpError::from_coordinator(&tonic::Status::internal("bug"));
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.contains("bug"), "{}", e.message);
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let resp = HttpError::unauthorized("invalid token").into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Token");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }
}
