//! Who may talk to the gateway: seaf-server with a JWT signed by the shared `JWT_PRIVATE_KEY`
//! (`/events`), scripts with the shared `sync_token` (`/v1/notify`). Neither the tokens nor the key
//! are ever logged or echoed in an error.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use seaf_backup_service::Secret;

use crate::error::HttpError;

/// Clock skew tolerated on `exp` between the primary and the gateway.
pub const JWT_LEEWAY: Duration = Duration::from_secs(30);

/// The header scripts may use instead of `Authorization`, as on the sync API.
pub const REPO_TOKEN_HEADER: &str = "seafile-repo-token";

/// The token of an `Authorization: Token <token>` header; `Ok(None)` when there is no such header.
pub fn authorization_token(headers: &HeaderMap) -> Result<Option<&str>, HttpError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| HttpError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("token") {
        return Err(HttpError::unauthorized("Authorization header must be \"Token <token>\""));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(HttpError::unauthorized("empty token in Authorization header"));
    }
    Ok(Some(token))
}

/// Checks the shared sync token, from `Authorization: Token …` or `Seafile-Repo-Token: …`.
pub fn check_sync_token(expected: &Secret, headers: &HeaderMap) -> Result<(), HttpError> {
    let given = match authorization_token(headers)? {
        Some(t) => t.as_bytes(),
        None => match headers.get(REPO_TOKEN_HEADER) {
            Some(v) => v.as_bytes(),
            None => return Err(HttpError::unauthorized("missing Authorization header")),
        },
    };
    if expected.matches(given) { Ok(()) } else { Err(HttpError::unauthorized("invalid token")) }
}

/// Verifies the notification JWTs seaf-server signs: HS256 only, `exp` required and checked
/// (seaf-server sets nothing else, so audience and issuer are not checked).
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(key: &Secret) -> JwtVerifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = JWT_LEEWAY.as_secs();
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        JwtVerifier { key: DecodingKey::from_secret(key.expose().as_bytes()), validation }
    }

    /// Checks the `Authorization: Token <JWT>` of a request.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), HttpError> {
        let token =
            authorization_token(headers)?.ok_or_else(|| HttpError::unauthorized("missing Authorization header"))?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<(), HttpError> {
        match jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &self.key, &self.validation) {
            Ok(_) => Ok(()),
            Err(e) => Err(HttpError::unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::InvalidSignature => "invalid token: bad signature",
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    "invalid token: only HS256 is accepted"
                }
                ErrorKind::MissingRequiredClaim(_) => "invalid token: no exp claim",
                _ => "invalid token",
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use jsonwebtoken::{EncodingKey, Header};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    fn mint(alg: Algorithm, key: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
    }

    #[test]
    fn sync_token_from_either_header() {
        let s = Secret::new("s3cr3t");
        assert!(check_sync_token(&s, &headers(&[("authorization", "Token s3cr3t")])).is_ok());
        assert!(check_sync_token(&s, &headers(&[("authorization", "token s3cr3t")])).is_ok());
        assert!(check_sync_token(&s, &headers(&[("seafile-repo-token", "s3cr3t")])).is_ok());
        let msg = |h: HeaderMap| check_sync_token(&s, &h).unwrap_err().message;
        assert_eq!(msg(headers(&[])), "missing Authorization header");
        assert_eq!(msg(headers(&[("authorization", "Token s3cr3")])), "invalid token");
        assert_eq!(msg(headers(&[("seafile-repo-token", "nope")])), "invalid token");
        assert_eq!(
            msg(headers(&[("authorization", "Bearer s3cr3t")])),
            "Authorization header must be \"Token <token>\""
        );
        assert_eq!(msg(headers(&[("authorization", "Token ")])), "empty token in Authorization header");
    }

    #[test]
    fn jwt_checks() {
        let v = JwtVerifier::new(&Secret::new("key"));
        let exp = now() + 300;
        assert!(v.verify(&mint(Algorithm::HS256, "key", serde_json::json!({ "exp": exp }))).is_ok());
        let err = |t: String| v.verify(&t).unwrap_err().message;
        assert_eq!(
            err(mint(Algorithm::HS256, "other", serde_json::json!({ "exp": exp }))),
            "invalid token: bad signature"
        );
        assert_eq!(err(mint(Algorithm::HS256, "key", serde_json::json!({ "exp": now() - 120 }))), "token expired");
        assert_eq!(
            err(mint(Algorithm::HS512, "key", serde_json::json!({ "exp": exp }))),
            "invalid token: only HS256 is accepted"
        );
        assert_eq!(
            err(mint(Algorithm::HS256, "key", serde_json::json!({ "sub": "x" }))),
            "invalid token: no exp claim"
        );
        assert_eq!(err("not.a.jwt".into()), "invalid token");
        // Within the leeway, a token just past `exp` still passes (clock skew).
        assert!(v.verify(&mint(Algorithm::HS256, "key", serde_json::json!({ "exp": now() - 5 }))).is_ok());
    }
}
