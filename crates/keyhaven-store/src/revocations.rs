//! Revocations: what makes an access token invalid before its `exp`. Access tokens are
//! self-contained JWTs, so the endpoints that accept them (introspection, userinfo,
//! sign-out) ask here, on every replica alike, since the rows are in the shared database.
//!
//! A record lives until the last token it covers expires; after that the JWT's own `exp`
//! refuses it and the record can be swept.

use keyhaven_core::{TenantId, Timestamp};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::entities::revocation;
use crate::{Store, StoreError};

/// What a revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One access token, by its `jti`.
    AccessToken,
    /// Every access token carrying this `sid`.
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::AccessToken => "jti",
            Kind::Session => "session",
        }
    }
}

/// Why something was revoked, for whoever reads the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// RFC 7009 revocation by the client.
    ClientRequest,
    /// An authorization code was presented again (RFC 6749 §4.1.2).
    CodeReplay,
    /// A replaced refresh token was presented again (RFC 9700 §4.14.2).
    RefreshReuse,
    /// The family's refresh token was revoked: its access tokens go with it.
    FamilyRevoked,
    /// The user was disabled or deleted: every session of theirs ended.
    UserDisabled,
    /// RP-initiated logout (`end_session_endpoint`).
    Logout,
    /// The bearer sign-out API.
    SignOut,
    /// An administrator revoked the session (`SessionService.RevokeSession`).
    SessionRevoked,
    /// `SessionService.NativeSsoLogout`.
    NativeSsoLogout,
    /// Another user signed in in the same browser, replacing the session.
    Replaced,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ClientRequest => "client_request",
            Reason::CodeReplay => "code_replay",
            Reason::RefreshReuse => "refresh_reuse",
            Reason::FamilyRevoked => "family_revoked",
            Reason::UserDisabled => "user_disabled",
            Reason::Logout => "logout",
            Reason::SignOut => "sign_out",
            Reason::SessionRevoked => "session_revoked",
            Reason::NativeSsoLogout => "native_sso_logout",
            Reason::Replaced => "replaced",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: Kind,
    pub value: String,
    pub reason: Reason,
    /// When the last token covered expires.
    pub expires_at: Timestamp,
}

/// Records revocations; revoking something already revoked is not an error (the first
/// record stands).
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    revocations: &[Revocation],
    now: Timestamp,
) -> Result<(), StoreError> {
    if revocations.is_empty() {
        return Ok(());
    }
    let rows = revocations.iter().map(|r| revocation::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        kind: Set(r.kind.as_str().to_owned()),
        value: Set(r.value.clone()),
        reason: Set(r.reason.as_str().to_owned()),
        revoked_at: Set(now.unix_millis()),
        expires_at: Set(r.expires_at.unix_millis()),
    });
    revocation::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Revokes one access token (RFC 7009) until its `exp`.
#[tracing::instrument(skip(store, jti))]
pub async fn revoke_access_token(
    store: &Store,
    tenant: &TenantId,
    jti: &str,
    expires_at: Timestamp,
    reason: Reason,
    now: Timestamp,
) -> Result<(), StoreError> {
    let revocation = Revocation {
        kind: Kind::AccessToken,
        value: jti.to_owned(),
        reason,
        expires_at,
    };
    insert(&store.write, tenant, &[revocation], now).await
}

/// Whether the access token with this `jti` (and `sid`) is revoked for any reason but
/// `except`: the sign-out API accepts a token its own earlier call revoked, so that a
/// retried sign-out gets the same answer, and refuses one revoked by anything else.
pub async fn is_revoked_other_than(
    store: &Store,
    tenant: &TenantId,
    jti: &str,
    sid: Option<&str>,
    except: Reason,
) -> Result<bool, StoreError> {
    let found = revocation::Entity::find()
        .filter(revocation::Column::TenantId.eq(tenant.as_str()))
        .filter(covering(jti, sid))
        .filter(revocation::Column::Reason.ne(except.as_str()))
        .count(&store.read)
        .await?;
    Ok(found > 0)
}

/// The revocations that cover the access token with this `jti` and `sid`.
fn covering(jti: &str, sid: Option<&str>) -> Condition {
    let mut covers = Condition::any().add(
        Condition::all()
            .add(revocation::Column::Kind.eq(Kind::AccessToken.as_str()))
            .add(revocation::Column::Value.eq(jti)),
    );
    if let Some(sid) = sid {
        covers = covers.add(
            Condition::all()
                .add(revocation::Column::Kind.eq(Kind::Session.as_str()))
                .add(revocation::Column::Value.eq(sid)),
        );
    }
    covers
}

/// Whether the access token with this `jti` (and `sid`, when it has one) is revoked.
///
/// On every introspection and userinfo call: checks asked at the same time go to the
/// database together (see `revocation_checks`), each answer as fresh as its question.
pub async fn is_revoked(
    store: &Store,
    tenant: &TenantId,
    jti: &str,
    sid: Option<&str>,
) -> Result<bool, StoreError> {
    store
        .revocation_checks()
        .is_revoked(tenant.as_str(), jti, sid)
        .await
}
