//! Authorization requests waiting for the user on the sign-in and consent pages.
//!
//! They live here rather than in a cookie: several can be pending in one browser (two
//! tabs, two applications) without overwriting each other, their size is not bounded by
//! what a cookie holds, and the continuation handle in the page URL is an opaque id that
//! is worth nothing without the browser cookie it is bound to.

use keyhaven_core::authorize::{AuthorizationRequest, Prompt};
use keyhaven_core::model::PendingAuthorization;
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::pkce::CodeChallenge;
use keyhaven_core::{ApplicationId, ClientId, ScopeSet, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entities::authorization_request;
use crate::{Store, StoreError};

#[tracing::instrument(skip_all)]
pub async fn create(store: &Store, pending: &PendingAuthorization) -> Result<(), StoreError> {
    let request = &pending.request;
    authorization_request::Entity::insert(authorization_request::ActiveModel {
        id: Set(pending.id.clone()),
        tenant_id: Set(pending.tenant_id.to_string()),
        application_id: Set(pending.application_id.to_string()),
        client_id: Set(request.client_id.to_string()),
        browser_digest: Set(pending.browser.as_str().to_owned()),
        redirect_uri: Set(request.redirect_uri.clone()),
        scope: Set(request.scope.to_delimited()),
        state: Set(request.state.clone()),
        nonce: Set(request.nonce.clone()),
        code_challenge: Set(request
            .code_challenge
            .as_ref()
            .map(|c| c.as_str().to_owned())),
        prompt: Set(request.prompt.to_delimited()),
        max_age: Set(request
            .max_age
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX))),
        login_hint: Set(request.login_hint.clone()),
        session_id: Set(pending.session_id.clone()),
        expires_at: Set(pending.expires_at.unix_millis()),
        created_at: Set(pending.created_at.unix_millis()),
    })
    .exec_without_returning(&store.write)
    .await
    .map_err(StoreError::on_write(
        "a pending authorization request with this id",
    ))?;
    Ok(())
}

/// The pending request with this id, unless it has expired or was taken.
pub async fn get(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    now: Timestamp,
) -> Result<Option<PendingAuthorization>, StoreError> {
    authorization_request::Entity::find()
        .filter(authorization_request::Column::TenantId.eq(tenant.as_str()))
        .filter(authorization_request::Column::Id.eq(id))
        .filter(authorization_request::Column::ExpiresAt.gt(now.unix_millis()))
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}

/// Records that the user signed in for this request and now has to consent.
#[tracing::instrument(skip(store))]
pub async fn attach_session(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    session_id: &str,
) -> Result<(), StoreError> {
    let updated = authorization_request::Entity::update_many()
        .col_expr(
            authorization_request::Column::SessionId,
            Expr::value(session_id),
        )
        .filter(authorization_request::Column::TenantId.eq(tenant.as_str()))
        .filter(authorization_request::Column::Id.eq(id))
        .exec(&store.write)
        .await?;
    if updated.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Removes the request for good; `true` for the one caller that removed it, so that a
/// form posted twice yields one answer to the client, not two codes.
#[tracing::instrument(skip(store))]
pub async fn take(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let deleted = authorization_request::Entity::delete_many()
        .filter(authorization_request::Column::TenantId.eq(tenant.as_str()))
        .filter(authorization_request::Column::Id.eq(id))
        .filter(authorization_request::Column::ExpiresAt.gt(now.unix_millis()))
        .exec(&store.write)
        .await?;
    Ok(deleted.rows_affected == 1)
}

fn into_record(row: authorization_request::Model) -> Result<PendingAuthorization, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::corrupt(&format!("pending authorization {} {what}", row.id), e)
    };
    let request = AuthorizationRequest {
        client_id: ClientId::parse(&row.client_id).map_err(|e| corrupt("client_id", &e))?,
        redirect_uri: row.redirect_uri.clone(),
        scope: ScopeSet::parse_delimited(&row.scope).map_err(|e| corrupt("scope", &e))?,
        state: row.state.clone(),
        nonce: row.nonce.clone(),
        code_challenge: row
            .code_challenge
            .as_deref()
            .map(|c| CodeChallenge::parse(c, Some("S256")))
            .transpose()
            .map_err(|e| corrupt("code_challenge", &e))?,
        prompt: Prompt::parse(&row.prompt).map_err(|e| corrupt("prompt", &e))?,
        max_age: row.max_age.map(|s| u64::try_from(s).unwrap_or(0)),
        login_hint: row.login_hint.clone(),
    };
    Ok(PendingAuthorization {
        id: row.id,
        tenant_id: TenantId::new(row.tenant_id),
        application_id: ApplicationId::new(row.application_id),
        browser: OpaqueDigest::from_stored(row.browser_digest),
        request,
        session_id: row.session_id,
        expires_at: Timestamp::from_unix_millis(row.expires_at),
        created_at: Timestamp::from_unix_millis(row.created_at),
    })
}
