//! Request bodies: read within `max_body_bytes` and parsed as JSON, with every failure answered in
//! the gateway's JSON error shape (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_TYPE};
use serde::de::DeserializeOwned;

use crate::Gateway;
use crate::error::HttpError;

/// The raw body, at most the gateway's `max_body_bytes` long (413 beyond).
pub struct Body(pub Bytes);

impl FromRequest<Gateway> for Body {
    type Rejection = HttpError;

    async fn from_request(req: Request, gw: &Gateway) -> Result<Body, HttpError> {
        match Bytes::from_request(req, gw).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {} bytes", gw.max_body_bytes()),
            )),
            Err(e) => Err(HttpError::bad_request(format!("could not read the request body: {}", e.body_text()))),
        }
    }
}

/// Parses a JSON body; a syntax error or a wrong shape is a 400 that says what is wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HttpError::bad_request("empty request body, expected JSON"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() { "unexpected JSON body" } else { "malformed JSON body" };
        HttpError::bad_request(format!("{what}: {e}"))
    })
}

/// 415 unless the request says it carries JSON (`application/json` or `application/*+json`).
pub fn require_json(headers: &HeaderMap) -> Result<(), HttpError> {
    let mime = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some("application/json") => Ok(()),
        Some(m) if m.starts_with("application/") && m.ends_with("+json") => Ok(()),
        _ => Err(HttpError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected Content-Type: application/json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_errors_say_what_is_wrong() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        assert_eq!(parse_json::<T>(b"  ").unwrap_err().message, "empty request body, expected JSON");
        assert!(parse_json::<T>(b"{").unwrap_err().message.starts_with("malformed JSON body"));
        let e = parse_json::<T>(b"{\"b\":1}").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("unexpected JSON body: missing field `a`"), "{}", e.message);
        assert_eq!(parse_json::<T>(b"{\"a\":1}").unwrap().a, 1);
    }

    #[test]
    fn content_types() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            require_json(&h)
        };
        assert!(with("application/json").is_ok());
        assert!(with("Application/JSON; charset=utf-8").is_ok());
        assert!(with("application/merge-patch+json").is_ok());
        assert_eq!(with("text/plain").unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(require_json(&HeaderMap::new()).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
