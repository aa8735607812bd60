//! Client-chosen request ids that make a retried create return what the first one made
//! (AIP-155) instead of a duplicate or an ALREADY_EXISTS.

use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::StoreError;
use crate::audit::Audit;
use crate::entities::request_id;

/// The key a request id is remembered under: the RPC and the parent it created in, so
/// that the same id sent to another tenant is a new request, not a replay.
fn method_key(audit: &Audit, parent: &str) -> String {
    if parent.is_empty() {
        audit.action.to_owned()
    } else {
        format!("{}@{parent}", audit.action)
    }
}

/// The row id a previous create with this request id made under `parent`, if any.
pub(crate) async fn replayed(
    db: &impl ConnectionTrait,
    audit: &Audit,
    parent: &str,
    request_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    Ok(request_id::Entity::find_by_id((
        audit.organization_id.to_string(),
        method_key(audit, parent),
        request_id.to_owned(),
    ))
    .one(db)
    .await?
    .map(|row| row.resource_name))
}

pub(crate) async fn remember(
    db: &impl ConnectionTrait,
    audit: &Audit,
    parent: &str,
    request_id: &str,
    row_id: &str,
) -> Result<(), StoreError> {
    request_id::Entity::insert(request_id::ActiveModel {
        organization_id: Set(audit.organization_id.to_string()),
        method: Set(method_key(audit, parent)),
        request_id: Set(request_id.to_owned()),
        resource_name: Set(row_id.to_owned()),
        created_at: Set(audit.now.unix_millis()),
    })
    .exec_without_returning(db)
    .await
    .map_err(StoreError::on_write("request id"))?;
    Ok(())
}
