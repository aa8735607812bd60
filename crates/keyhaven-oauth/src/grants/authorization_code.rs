//! The authorization code grant (RFC 6749 §4.1.3-4.1.4, RFC 7636 §4.5-4.6, OIDC Core
//! §3.1.3): the client trades a code it received at its redirect URI for an access token
//! and, for an OpenID Connect request, an ID token.
//!
//! The code is spent by the first presentation that finds it unspent and unexpired
//! (one conditional UPDATE), before the remaining checks: a presentation that fails a
//! check cannot be retried with other values.

use keyhaven_core::model::{Application, AuthorizationCode, Tenant, TokenLifetimes};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{DeviceId, GrantType, Timestamp};
use keyhaven_store::authorization_codes::{self, Redemption};
use keyhaven_store::device_secrets::{self, NewDeviceSecret};
use keyhaven_store::revocations::{self, Reason};
use keyhaven_store::{refresh_tokens, sessions};

use crate::browser::random_token;
use crate::cache::CachedTenant;
use crate::client_auth::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::grants::user_tokens::{self, UserGrant};
use crate::state::OAuthState;
use crate::token_response::TokenResponse;

pub async fn grant(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    params: &Params,
    device_id: Option<DeviceId>,
) -> Result<TokenResponse, OAuthError> {
    if !client
        .app
        .grant_types
        .contains(GrantType::AuthorizationCode)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not allowed the authorization_code grant",
        ));
    }
    let code = params.require("code")?;
    // OIDC Core §3.1.3.1: required, since every authorization request carried one.
    let redirect_uri = params.require("redirect_uri")?;
    let now = state.now();
    // Chosen before the code is spent, so that the redemption records it and a replay
    // can revoke the access token whatever happens next.
    let access_jti = state.random_id();
    let record = redeem(state, tenant, code, &access_jti, now).await?;
    check_binding(client, &record, redirect_uri, params.get("code_verifier"))?;

    // The session and the user must still stand: a user disabled or signed out between
    // the redirect and the exchange gets no tokens.
    let (session, user) = sessions::get_with_user(&state.store, &tenant.id, &record.session_id)
        .await?
        .filter(|(s, _)| s.is_live(now))
        .ok_or_else(|| invalid_grant("the session this code was issued in has ended"))?;
    if user.disabled || user.id != record.user_id {
        return Err(invalid_grant("the user of this code can no longer sign in"));
    }

    // Native SSO §3.4.2: a device secret for a grant with `openid device_sso`. Only its
    // digest is stored, so a session that has one gets a new one, which replaces it.
    let device_secret = (client.app.native_sso
        && record.scope.contains("openid")
        && record.scope.contains(Application::DEVICE_SSO_SCOPE))
    .then(|| random_token(state));
    let issued = user_tokens::issue(
        state,
        tenant,
        client,
        UserGrant {
            user_id: &record.user_id,
            session_id: &session.id,
            granted: &record.scope,
            scope: &record.scope,
            auth_time: record.auth_time,
            nonce: record.nonce.clone(),
            // The family is named after the code: a replay of the code finds it.
            family_id: record.digest.as_str(),
            device_id: device_id.map(DeviceId::into_string),
            device_secret: device_secret.as_ref().map(|s| s.expose()),
        },
        access_jti,
        now,
    )
    .await?;
    if let Some(secret) = &device_secret {
        let new = NewDeviceSecret {
            digest: secret.digest(),
            session_id: session.id.clone(),
            user_id: record.user_id.clone(),
            expires_at: session.expires_at,
        };
        device_secrets::issue(&state.store, &tenant.id, &new, now).await?;
    }
    if let Some(refresh) = &issued.refresh {
        refresh_tokens::issue(&state.store, &tenant.id, refresh, now).await?;
        // A replay of the code that ran while these tokens were being made revoked the
        // access token first and then the family, which may have been empty then. Nobody
        // else can have revoked an access token not yet handed out, so a revocation here
        // means a replay: the refresh token just stored goes too. The answer still goes
        // out (one of concurrent redemptions gets a 200), with tokens that no longer work.
        if revocations::is_revoked(&state.store, &tenant.id, &refresh.access_jti, None).await? {
            refresh_tokens::revoke_family(
                &state.store,
                &tenant.id,
                &refresh.family_id,
                Reason::CodeReplay,
                now,
            )
            .await?;
        }
    }
    Ok(issued.body)
}

/// RFC 6749 §4.1.2: a code is used once and lives briefly; "if an authorization code is
/// used more than once, the authorization server ... SHOULD revoke (when possible) all
/// tokens previously issued based on that authorization code".
async fn redeem(
    state: &OAuthState,
    tenant: &Tenant,
    code: &str,
    access_jti: &str,
    now: Timestamp,
) -> Result<AuthorizationCode, OAuthError> {
    let digest = OpaqueDigest::of_presented(code)
        .ok_or_else(|| invalid_grant("the authorization code is not one this server issued"))?;
    match authorization_codes::redeem(&state.store, &tenant.id, &digest, access_jti, now).await? {
        Redemption::Redeemed(record) => Ok(record),
        Redemption::Replayed(record) => {
            // The access token first, on its own: the redemption that won checks it after
            // storing its refresh token (see `grant`), so that whichever way the two
            // requests interleave, the refresh token is revoked too.
            if let Some(jti) = &record.issued_jti {
                revocations::revoke_access_token(
                    &state.store,
                    &tenant.id,
                    jti,
                    // Covers the token whatever the tenant's lifetime was when it was issued.
                    record
                        .consumed_at
                        .unwrap_or(now)
                        .saturating_add(TokenLifetimes::MAX_ACCESS_TOKEN),
                    Reason::CodeReplay,
                    now,
                )
                .await?;
            }
            let revoked = refresh_tokens::revoke_family(
                &state.store,
                &tenant.id,
                record.digest.as_str(),
                Reason::CodeReplay,
                now,
            )
            .await?;
            let reason = Reason::CodeReplay.as_str();
            state.metrics.revoked(tenant.slug.as_str(), reason);
            tracing::warn!(
                sid = %record.session_id,
                refresh_tokens_revoked = revoked,
                "authorization code presented again: the tokens issued for it are revoked"
            );
            Err(invalid_grant("the authorization code was already used"))
        }
        Redemption::Expired => Err(invalid_grant("the authorization code has expired")),
        Redemption::Unknown => Err(invalid_grant(
            "the authorization code is not one this server issued",
        )),
    }
}

/// RFC 6749 §4.1.3 and RFC 7636 §4.6: the code is bound to its client, its redirect URI
/// and its PKCE challenge; design.md §4.2 adds downgrade protection (a verifier for a
/// code issued without a challenge is refused).
fn check_binding(
    client: &Client,
    code: &AuthorizationCode,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    if code.application_id != client.app.id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri is not the one of the authorization request",
        ));
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => match challenge.verify(verifier) {
            Ok(true) => Ok(()),
            Ok(false) => Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            )),
            Err(malformed) => Err(invalid_grant(malformed.to_string())),
        },
        (Some(_), None) => Err(invalid_grant(
            "code_verifier is required: the authorization request had a code_challenge",
        )),
        (None, Some(_)) => Err(invalid_grant(
            "code_verifier was sent, but the authorization request had no code_challenge",
        )),
        (None, None) if !client.app.app_type.is_confidential() => {
            Err(invalid_grant("public clients must use PKCE"))
        }
        (None, None) => Ok(()),
    }
}

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keyhaven_core::pkce::CodeChallenge;
    use keyhaven_core::{
        ApplicationId, ApplicationType, ClientId, DisplayName, EnvironmentSet, ScopeSet, TenantId,
    };

    use super::*;
    use crate::client_auth::Method;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://rp.example/cb";

    fn client(id: &str, app_type: ApplicationType) -> Client {
        Client {
            app: Arc::new(Application {
                id: ApplicationId::new(id),
                tenant_id: TenantId::new("t"),
                client_id: ClientId::parse(id).expect("valid"),
                display_name: DisplayName::parse("App").expect("valid"),
                app_type,
                grant_types: app_type.default_grant_types(),
                scopes: ScopeSet::default(),
                first_party: true,
                allowed_origins: vec![],
                allow_code_without_pkce: true,
                environments: EnvironmentSet::all(),
                id_token_signed_response_alg: Application::DEFAULT_ID_TOKEN_ALG,
                backchannel_logout_uri: None,
                native_sso: false,
                version: 1,
                created_at: Timestamp::from_unix_millis(0),
                updated_at: Timestamp::from_unix_millis(0),
            }),
            method: if app_type.is_confidential() {
                Method::ClientSecretBasic
            } else {
                Method::None
            },
        }
    }

    fn code(app: &str, challenge: Option<&str>) -> AuthorizationCode {
        AuthorizationCode {
            digest: OpaqueDigest::from_stored("d".into()),
            tenant_id: TenantId::new("t"),
            application_id: ApplicationId::new(app),
            user_id: "u".into(),
            session_id: "s".into(),
            redirect_uri: CB.into(),
            scope: ScopeSet::default(),
            nonce: None,
            code_challenge: challenge
                .map(|c| CodeChallenge::parse(c, Some("S256")).expect("valid")),
            auth_time: Timestamp::from_unix_millis(0),
            expires_at: Timestamp::from_unix_millis(60_000),
            consumed_at: None,
            issued_jti: None,
            created_at: Timestamp::from_unix_millis(0),
        }
    }

    /// (name, presenting client, code, redirect_uri sent, code_verifier sent, accepted)
    type Case<'a> = (
        &'a str,
        &'a Client,
        AuthorizationCode,
        &'a str,
        Option<&'a str>,
        bool,
    );

    #[test]
    fn a_code_is_bound_to_its_client_redirect_uri_and_pkce_challenge() {
        let web = client("web", ApplicationType::Web);
        let native = client("native", ApplicationType::Native);
        let wrong_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
        let cases: Vec<Case> = vec![
            (
                "all good",
                &web,
                code("web", Some(CHALLENGE)),
                CB,
                Some(VERIFIER),
                true,
            ),
            (
                "another client",
                &native,
                code("web", Some(CHALLENGE)),
                CB,
                Some(VERIFIER),
                false,
            ),
            (
                "trailing slash",
                &web,
                code("web", Some(CHALLENGE)),
                "https://rp.example/cb/",
                Some(VERIFIER),
                false,
            ),
            (
                "wrong verifier",
                &web,
                code("web", Some(CHALLENGE)),
                CB,
                Some(wrong_verifier),
                false,
            ),
            (
                "missing verifier",
                &web,
                code("web", Some(CHALLENGE)),
                CB,
                None,
                false,
            ),
            (
                "short verifier",
                &web,
                code("web", Some(CHALLENGE)),
                CB,
                Some(&VERIFIER[..42]),
                false,
            ),
            (
                "downgrade",
                &web,
                code("web", None),
                CB,
                Some(VERIFIER),
                false,
            ),
            (
                "confidential without pkce",
                &web,
                code("web", None),
                CB,
                None,
                true,
            ),
            (
                "public without pkce",
                &native,
                code("native", None),
                CB,
                None,
                false,
            ),
            (
                "public with pkce",
                &native,
                code("native", Some(CHALLENGE)),
                CB,
                Some(VERIFIER),
                true,
            ),
        ];
        for (name, client, code, redirect_uri, verifier, ok) in cases {
            let result = check_binding(client, &code, redirect_uri, verifier);
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.code, ErrorCode::InvalidGrant, "{name}");
            }
        }
    }
}
