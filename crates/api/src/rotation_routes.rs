//! The rotation routes: list, create (the document `vip rotation
//! validate` checks; errors name the JSON path and the fix), read,
//! replace, delete (not while active), activate. A change is in use when
//! answered. `{id}` takes an id or a name.

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::body::Body;
use crate::problem::ApiError;
use crate::rotation_types::RotationView;
use crate::server::Ctl;

/// Stored rotation configs.
#[utoipa::path(get, path = "/api/v1/rotations", tag = "rotation",
    responses((status = 200, body = Vec<RotationView>)))]
pub(crate) async fn list(State(c): State<Ctl>) -> Result<Json<Vec<RotationView>>, ApiError> {
    c.rotations().await.map(Json)
}

/// Stores a rotation config (201 with `Location`).
#[utoipa::path(post, path = "/api/v1/rotations", tag = "rotation",
    request_body(content = Object, description = "a rotation config document: name, strategy, \
        and optionally target_group, common_config, strategy_config, rules"),
    responses((status = 201, body = RotationView, headers(("Location" = String)))))]
pub(crate) async fn create(
    State(c): State<Ctl>,
    Body(doc): Body<Value>,
) -> Result<Response, ApiError> {
    let made = c.create_rotation(doc).await?;
    let mut response = (StatusCode::CREATED, Json(&made)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/rotations/{}", made.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// One rotation config with its document.
#[utoipa::path(get, path = "/api/v1/rotations/{id}", tag = "rotation",
    params(("id" = String, Path, description = "config id or name")),
    responses((status = 200, body = RotationView)))]
pub(crate) async fn get(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RotationView>, ApiError> {
    c.rotation(id).await.map(Json)
}

/// Replaces a rotation config's document (its rules too, when it has them).
#[utoipa::path(put, path = "/api/v1/rotations/{id}", tag = "rotation",
    params(("id" = String, Path, description = "config id or name")),
    request_body(content = Object, description = "the whole document, as POST takes it"),
    responses((status = 200, body = RotationView)))]
pub(crate) async fn replace(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
    Body(doc): Body<Value>,
) -> Result<Json<RotationView>, ApiError> {
    c.replace_rotation(id, doc).await.map(Json)
}

/// Deletes a rotation config that is not active.
#[utoipa::path(delete, path = "/api/v1/rotations/{id}", tag = "rotation",
    params(("id" = String, Path, description = "config id or name")),
    responses((status = 200, body = Object, example = json!({"deleted": 3}))))]
pub(crate) async fn delete(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let gone = c.delete_rotation(id).await?;
    Ok(Json(json!({ "deleted": gone })))
}

/// Makes a rotation config the active one of its group.
#[utoipa::path(post, path = "/api/v1/rotations/{id}/activate", tag = "rotation",
    params(("id" = String, Path, description = "config id or name")),
    responses((status = 200, body = RotationView)))]
pub(crate) async fn activate(
    State(c): State<Ctl>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<RotationView>, ApiError> {
    c.activate_rotation(id).await.map(Json)
}
