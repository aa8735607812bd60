//! The authorization code grant (RFC 6749 §4.1.3-4.1.4, RFC 7636 §4.5-4.6, OIDC Core
//! §3.1.3): the client trades a code it received at its redirect URI for an access token
//! and, for an OpenID Connect request, an ID token.
//!
//! The code is spent by the first presentation that finds it unspent and unexpired
//! (one conditional UPDATE), before the remaining checks: a presentation that fails a
//! check cannot be retried with other values.

use keyhaven_core::model::{AuthorizationCode, Tenant};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{GrantType, Timestamp};
use keyhaven_store::authorization_codes::{self, Redemption};
use keyhaven_store::{sessions, users};
use serde_json::{Value, json};

use crate::access_token::{self, Claims};
use crate::client_auth::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::id_token;
use crate::state::OAuthState;

pub async fn grant(
    state: &OAuthState,
    tenant: &Tenant,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
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
    let record = redeem(state, tenant, code, now).await?;
    check_binding(client, &record, redirect_uri, params.get("code_verifier"))?;

    // The session and the user must still stand: a user disabled or signed out between
    // the redirect and the exchange gets no tokens.
    let session = sessions::get(&state.store, &tenant.id, &record.session_id)
        .await?
        .filter(|s| s.is_live(now))
        .ok_or_else(|| invalid_grant("the session this code was issued in has ended"))?;
    users::get(&state.store, &tenant.id, &record.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_grant("the user of this code can no longer sign in"))?;

    let issuer = state.issuer(tenant);
    let lifetime = tenant.lifetimes.access_token;
    let scope = (!record.scope.is_empty()).then(|| record.scope.to_delimited());
    let claims = Claims {
        iss: issuer.clone(),
        aud: issuer.clone(),
        sub: record.user_id.clone(),
        client_id: client.app.client_id.to_string(),
        iat: now.unix_seconds(),
        exp: now.saturating_add(lifetime).unix_seconds(),
        jti: state.random_id(),
        scope: scope.clone(),
        sid: Some(session.id.clone()),
    };
    let keys = state.keys.for_tenant(&state.store, tenant, now).await?;
    let access_token = access_token::sign(&keys, &claims)?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
    });
    if let Some(scope) = scope {
        body["scope"] = Value::String(scope);
    }
    // OIDC Core §3.1.3.3: an ID token for an OpenID Connect request, and only for one.
    if record.scope.contains("openid") {
        let id_claims = id_token::Claims {
            iss: issuer,
            sub: record.user_id.clone(),
            aud: client.app.client_id.to_string(),
            iat: now.unix_seconds(),
            exp: now.saturating_add(tenant.lifetimes.id_token).unix_seconds(),
            auth_time: record.auth_time.unix_seconds(),
            nonce: record.nonce.clone(),
            sid: session.id.clone(),
            at_hash: id_token::at_hash(&access_token),
        };
        body["id_token"] = Value::String(id_token::sign(&keys, &id_claims)?);
    }
    Ok(body)
}

/// RFC 6749 §4.1.2: a code is used once and lives briefly.
async fn redeem(
    state: &OAuthState,
    tenant: &Tenant,
    code: &str,
    now: Timestamp,
) -> Result<AuthorizationCode, OAuthError> {
    let digest = OpaqueDigest::of_presented(code)
        .ok_or_else(|| invalid_grant("the authorization code is not one this server issued"))?;
    match authorization_codes::redeem(&state.store, &tenant.id, &digest, now).await? {
        Redemption::Redeemed(record) => Ok(record),
        Redemption::Replayed(record) => {
            // RFC 6749 §4.1.2 asks to revoke the tokens issued from this code. Access
            // tokens are self-contained JWTs; revoking them needs the revocation records
            // and refresh tokens that come next, and this is the place to call it.
            tracing::warn!(sid = %record.session_id, "authorization code presented again");
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
    use keyhaven_core::model::Application;
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
            app: Application {
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
                version: 1,
                created_at: Timestamp::from_unix_millis(0),
                updated_at: Timestamp::from_unix_millis(0),
            },
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
