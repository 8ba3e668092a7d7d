//! Rotation configs through the API: the store keeps them (validated by
//! the engine's parser, whose errors name the JSON path and the fix); the
//! caller reloads the engine before answering a change.

use vip_api::{ApiError, RotationView};
use vip_store::StoreError;
use vip_store::repo::rotation::RotationRecord;

use super::{Browsing, internal};

fn refused(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => {
            ApiError::not_found(format!("{e}: see GET /api/v1/rotations (or `vip rotation list`)"))
        }
        StoreError::Invalid { .. } => ApiError::invalid(e.to_string())
            .hint("check the document with `vip rotation validate FILE`; `vip strategies` lists the strategies and their settings"),
        e => internal(e),
    }
}

fn view(s: &vip_store::Store, r: RotationRecord) -> Result<RotationView, StoreError> {
    let document = s.rotation_document(r.id)?;
    Ok(RotationView {
        id: r.id,
        name: r.name,
        strategy: r.strategy,
        target_group: r.target_group,
        is_active: r.is_active,
        created_at: r.created_at,
        updated_at: r.updated_at,
        document,
    })
}

impl Browsing {
    pub(crate) async fn rotations(&self) -> Result<Vec<RotationView>, ApiError> {
        self.on_store(|s| {
            s.list_rotations()?
                .into_iter()
                .map(|r| view(s, r))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(refused)
    }

    pub(crate) async fn rotation(&self, key: String) -> Result<RotationView, ApiError> {
        self.on_store(move |s| view(s, s.find_rotation(&key)?))
            .await?
            .map_err(refused)
    }

    pub(crate) async fn create_rotation(
        &self,
        doc: serde_json::Value,
    ) -> Result<RotationView, ApiError> {
        self.on_store(move |s| {
            let id = s.create_rotation(&doc)?;
            view(s, s.find_rotation(&id.to_string())?)
        })
        .await?
        .map_err(refused)
    }

    pub(crate) async fn replace_rotation(
        &self,
        key: String,
        doc: serde_json::Value,
    ) -> Result<RotationView, ApiError> {
        self.on_store(move |s| {
            let id = s.find_rotation(&key)?.id;
            s.update_rotation(id, &doc)?;
            view(s, s.find_rotation(&id.to_string())?)
        })
        .await?
        .map_err(refused)
    }

    pub(crate) async fn delete_rotation(&self, key: String) -> Result<i64, ApiError> {
        self.on_store(move |s| {
            let id = s.find_rotation(&key)?.id;
            s.delete_rotation(id).map(|()| id)
        })
        .await?
        .map_err(|e| match e {
            StoreError::Invalid { .. } => ApiError::conflict(e.to_string()).hint(
                "activate another config for its group first: POST /api/v1/rotations/{id}/activate",
            ),
            e => refused(e),
        })
    }

    pub(crate) async fn activate_rotation(&self, key: String) -> Result<RotationView, ApiError> {
        self.on_store(move |s| {
            let id = s.find_rotation(&key)?.id;
            s.activate_rotation(id)?;
            view(s, s.find_rotation(&id.to_string())?)
        })
        .await?
        .map_err(refused)
    }
}
