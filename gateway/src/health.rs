//! Probes: `/healthz` (the process answers), `/readyz` (the coordinator answers its gRPC health
//! check), and `/ping` as the real notification server answers it, for monitors that expect it.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::HttpError;
use crate::{Gateway, coordinator};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(gw): State<Gateway>) -> Result<Json<Value>, HttpError> {
    coordinator::ready(gw.channel()).await.map_err(HttpError::unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}

pub async fn ping() -> Json<Value> {
    Json(json!({ "ret": "pong" }))
}
