//! Authorization codes (RFC 6749 §4.1.2), stored by digest and redeemed at most once.

use keyhaven_core::model::AuthorizationCode;
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::pkce::CodeChallenge;
use keyhaven_core::{ApplicationId, ScopeSet, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::authorization_code;
use crate::{Store, StoreError};

#[tracing::instrument(skip_all)]
pub async fn create(
    store: &Store,
    tenant: &TenantId,
    code: &AuthorizationCode,
) -> Result<(), StoreError> {
    authorization_code::Entity::insert(authorization_code::ActiveModel {
        digest: Set(code.digest.as_str().to_owned()),
        tenant_id: Set(tenant.to_string()),
        application_id: Set(code.application_id.to_string()),
        user_id: Set(code.user_id.clone()),
        session_id: Set(code.session_id.clone()),
        redirect_uri: Set(code.redirect_uri.clone()),
        scope: Set(code.scope.to_delimited()),
        nonce: Set(code.nonce.clone()),
        code_challenge: Set(code.code_challenge.as_ref().map(|c| c.as_str().to_owned())),
        auth_time: Set(code.auth_time.unix_millis()),
        expires_at: Set(code.expires_at.unix_millis()),
        consumed_at: Set(None),
        issued_jti: Set(None),
        created_at: Set(code.created_at.unix_millis()),
    })
    .exec_without_returning(&store.write)
    .await
    .map_err(StoreError::on_write(
        "an authorization code with this digest",
    ))?;
    Ok(())
}

/// The outcome of presenting a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// This call consumed the code: the caller may issue tokens for it.
    Redeemed(AuthorizationCode),
    /// The code was consumed before: a replay (RFC 6749 §4.1.2). The caller revokes
    /// what the first redemption issued and answers `invalid_grant`.
    Replayed(AuthorizationCode),
    /// Never consumed, but past its lifetime.
    Expired,
    /// No such code in this tenant.
    Unknown,
}

/// Consumes the code with a single conditional UPDATE (`consumed_at IS NULL` and not
/// expired) that returns the row it changed, so that of two concurrent redemptions
/// exactly one gets the row back and wins, on either backend, without a transaction or
/// a lock held across the call. `access_jti` is the `jti` the winner will issue,
/// recorded so a replay can revoke it.
#[tracing::instrument(skip_all)]
pub async fn redeem(
    store: &Store,
    tenant: &TenantId,
    digest: &OpaqueDigest,
    access_jti: &str,
    now: Timestamp,
) -> Result<Redemption, StoreError> {
    let consumed = authorization_code::Entity::update_many()
        .col_expr(
            authorization_code::Column::ConsumedAt,
            Expr::value(now.unix_millis()),
        )
        .col_expr(
            authorization_code::Column::IssuedJti,
            Expr::value(access_jti),
        )
        .filter(authorization_code::Column::TenantId.eq(tenant.as_str()))
        .filter(authorization_code::Column::Digest.eq(digest.as_str()))
        .filter(authorization_code::Column::ConsumedAt.is_null())
        .filter(authorization_code::Column::ExpiresAt.gt(now.unix_millis()))
        .exec_with_returning(&store.write)
        .await?;
    if let Some(row) = consumed.into_iter().next() {
        return Ok(Redemption::Redeemed(into_record(row)?));
    }
    // Read on the writer, which has just seen the row as the UPDATE left it.
    Ok(match find(&store.write, tenant, digest).await? {
        None => Redemption::Unknown,
        Some(code) if code.consumed_at.is_some() => Redemption::Replayed(code),
        Some(_) => Redemption::Expired,
    })
}

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    digest: &OpaqueDigest,
) -> Result<Option<AuthorizationCode>, StoreError> {
    authorization_code::Entity::find()
        .filter(authorization_code::Column::TenantId.eq(tenant.as_str()))
        .filter(authorization_code::Column::Digest.eq(digest.as_str()))
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

fn into_record(row: authorization_code::Model) -> Result<AuthorizationCode, StoreError> {
    let scope = ScopeSet::parse_delimited(&row.scope)
        .map_err(|e| StoreError::corrupt("authorization code scope", e))?;
    let code_challenge = row
        .code_challenge
        .as_deref()
        .map(|c| CodeChallenge::parse(c, Some("S256")))
        .transpose()
        .map_err(|e| StoreError::corrupt("authorization code challenge", e))?;
    Ok(AuthorizationCode {
        digest: OpaqueDigest::from_stored(row.digest),
        tenant_id: TenantId::new(row.tenant_id),
        application_id: ApplicationId::new(row.application_id),
        user_id: row.user_id,
        session_id: row.session_id,
        redirect_uri: row.redirect_uri,
        scope,
        nonce: row.nonce,
        code_challenge,
        auth_time: Timestamp::from_unix_millis(row.auth_time),
        expires_at: Timestamp::from_unix_millis(row.expires_at),
        consumed_at: row.consumed_at.map(Timestamp::from_unix_millis),
        issued_jti: row.issued_jti,
        created_at: Timestamp::from_unix_millis(row.created_at),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyhaven_core::model::Tenant;
    use keyhaven_core::opaque::OpaqueToken;
    use keyhaven_core::password::PasswordHash;
    use keyhaven_core::username::Username;
    use keyhaven_core::{ApplicationType, ClientId, DisplayName, EnvironmentSet};

    use super::*;
    use crate::applications::NewApplication;
    use crate::sessions::NewSession;
    use crate::users::NewUser;
    use crate::{applications, sessions, users};

    use crate::testing::{self, NOW};

    struct Fixture {
        store: Store,
        tenant: Tenant,
        other_tenant: Tenant,
        app: ApplicationId,
        user: String,
        session: String,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let testing::Database {
            store,
            audit,
            tenants,
            dir,
            ..
        } = testing::with_tenants(&["acme", "globex"]).await;
        let [acme, globex]: [Tenant; 2] = tenants.try_into().expect("two tenants");
        let app = applications::create(
            &store,
            &audit,
            &acme,
            NewApplication {
                client_id: ClientId::parse("web-app").expect("client id"),
                display_name: DisplayName::parse("Web").expect("name"),
                app_type: ApplicationType::Web,
                grant_types: ApplicationType::Web.default_grant_types(),
                scopes: ScopeSet::default(),
                first_party: true,
                allowed_origins: vec![],
                allow_code_without_pkce: false,
                environments: EnvironmentSet::all(),
                id_token_signed_response_alg:
                    keyhaven_core::model::Application::DEFAULT_ID_TOKEN_ALG,
                backchannel_logout_uri: None,
                native_sso: false,
            },
            None,
            None,
        )
        .await
        .expect("application")
        .into_inner();
        let user = users::create(
            &store,
            &audit,
            &acme,
            NewUser {
                username: Username::parse("alice").expect("username"),
                email: None,
                given_name: String::new(),
                family_name: String::new(),
                password_hash: PasswordHash::from_stored("not used".into()),
            },
        )
        .await
        .expect("user");
        let session = sessions::create(
            &store,
            &acme.id,
            NewSession {
                id: "sid-1".into(),
                user_id: user.id.clone(),
                secret: OpaqueToken::from_entropy([2; 32]).digest(),
                auth_time: NOW,
                amr: vec!["pwd".into()],
                expires_at: NOW.saturating_add(Duration::from_secs(3600)),
                idle_expires_at: NOW.saturating_add(Duration::from_secs(3600)),
                device_id: None,
            },
        )
        .await
        .expect("session");
        Fixture {
            store,
            tenant: acme,
            other_tenant: globex,
            app: app.id,
            user: user.id,
            session: session.id,
            _dir: dir,
        }
    }

    fn code(f: &Fixture, token: &OpaqueToken) -> AuthorizationCode {
        AuthorizationCode {
            digest: token.digest(),
            tenant_id: f.tenant.id.clone(),
            application_id: f.app.clone(),
            user_id: f.user.clone(),
            session_id: f.session.clone(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: ScopeSet::parse_delimited("openid").expect("scope"),
            nonce: Some("n".into()),
            code_challenge: Some(
                CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                    .expect("challenge"),
            ),
            auth_time: NOW,
            expires_at: NOW.saturating_add(Duration::from_secs(60)),
            consumed_at: None,
            issued_jti: None,
            created_at: NOW,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_code_is_redeemed_once_then_reported_as_replayed_expired_or_unknown() {
        let f = fixture().await;
        let token = OpaqueToken::from_entropy([7; 32]);
        let issued = code(&f, &token);
        create(&f.store, &f.tenant.id, &issued)
            .await
            .expect("created");

        let elsewhere = redeem(&f.store, &f.other_tenant.id, &token.digest(), "jti-0", NOW)
            .await
            .expect("redeem");
        assert_eq!(
            elsewhere,
            Redemption::Unknown,
            "another tenant's code is unknown"
        );

        let later = NOW.saturating_add(Duration::from_secs(1));
        let racers: Vec<_> = (0..10)
            .map(|i| {
                let store = f.store.clone();
                let tenant = f.tenant.id.clone();
                let digest = token.digest();
                tokio::spawn(async move {
                    redeem(&store, &tenant, &digest, &format!("jti-{i}"), later)
                        .await
                        .expect("redeem")
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.expect("joined"));
        }
        let won: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o, Redemption::Redeemed(_)))
            .collect();
        assert_eq!(won.len(), 1, "{outcomes:?}");
        let Redemption::Redeemed(winner) = won[0] else {
            unreachable!("filtered on Redeemed")
        };
        let winner_jti = winner
            .issued_jti
            .clone()
            .expect("the winner's jti is recorded");
        assert_eq!(
            *winner,
            AuthorizationCode {
                consumed_at: Some(later),
                issued_jti: Some(winner_jti.clone()),
                ..issued.clone()
            }
        );
        // A replay reports what the winner issued, never its own jti.
        for outcome in outcomes
            .iter()
            .filter(|o| !matches!(o, Redemption::Redeemed(_)))
        {
            match outcome {
                Redemption::Replayed(code) => {
                    assert_eq!(code.issued_jti.as_deref(), Some(winner_jti.as_str()))
                }
                other => panic!("expected a replay, got {other:?}"),
            }
        }

        let stale = OpaqueToken::from_entropy([8; 32]);
        create(&f.store, &f.tenant.id, &code(&f, &stale))
            .await
            .expect("created");
        let at_expiry = NOW.saturating_add(Duration::from_secs(60));
        assert_eq!(
            redeem(&f.store, &f.tenant.id, &stale.digest(), "jti-s", at_expiry)
                .await
                .expect("redeem"),
            Redemption::Expired
        );
        let unknown = OpaqueToken::from_entropy([9; 32]).digest();
        assert_eq!(
            redeem(&f.store, &f.tenant.id, &unknown, "jti-u", NOW)
                .await
                .expect("redeem"),
            Redemption::Unknown
        );
    }
}
