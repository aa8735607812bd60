//! OpenID Connect Native SSO for Mobile Apps 1.0 (draft 07): scope `device_sso` in a code
//! flow yields a device secret and an ID token bound to it (`ds_hash`, `sid`); a second
//! native app of the tenant trades both for its own tokens with the token-exchange grant
//! (RFC 8693), in the same session; and every check of the exchange fails with the
//! spec's error.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_tests::assert::violation;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{AccessToken, AccessTokenHash};
use reqwest::StatusCode;
use serde_json::Value;

use crate::oidc_support::{
    Browser, Client, PASSWORD, WEB, acme, authorize_url, claims_of, client, http, issuer, param,
    redirect_params, register, user,
};
use crate::refresh_tokens::{NATIVE, introspect, refresh, userinfo_status};

on_both_backends!(
    a_second_native_app_signs_in_with_the_first_apps_id_token_and_device_secret,
    device_sso_is_granted_only_to_native_apps_allowed_native_sso,
    every_failed_exchange_is_refused_with_the_error_of_the_spec,
    a_new_device_secret_replaces_the_old_and_an_ended_session_makes_it_useless,
);

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const DEVICE_SECRET_TYPE: &str = "urn:openid:params:token-type:device-secret";
const SSO_SCOPE: &str = "openid device_sso";

/// A native application of `tenant` with Native SSO and the token-exchange grant.
async fn sso_app(app: &TestApp, tenant: &str) -> Client {
    native_app(app, tenant, true, true).await
}

async fn native_app(app: &TestApp, tenant: &str, native_sso: bool, exchange: bool) -> Client {
    let mut grant_types = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
    if exchange {
        grant_types.push(TOKEN_EXCHANGE.to_owned());
    }
    let created = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: format!("tenants/{tenant}"),
            application: Some(pb::Application {
                display_name: "Acme Mobile".into(),
                r#type: pb::ApplicationType::Native as i32,
                grant_types,
                scopes: vec!["profile".into(), "email".into()],
                first_party: true,
                native_sso,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("application")
        .into_inner()
        .application
        .expect("application");
    assert_eq!(created.native_sso, native_sso);
    let uri = "http://127.0.0.1/callback";
    register(app, &created.name, uri, pb::Environment::Localhost).await;
    Client {
        client_id: created.client_id,
        secret: None,
        redirect_uri: uri.to_owned(),
    }
}

async fn set_native_sso(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    native_sso: bool,
) -> Result<pb::Application, tonic::Status> {
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name: format!("tenants/{tenant}/applications/{}", client.client_id),
                native_sso,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["native_sso".into()],
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Signs alice in to `client` of `tenant` in `browser` with `scope` and PKCE, and
/// redeems the code: the token response.
async fn sign_in(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    browser: &Browser,
    scope: &str,
) -> Value {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let url = authorize_url(
        app,
        tenant,
        client,
        &[
            ("scope", scope),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = browser.open(&url).await;
    // A browser already signed in to the tenant goes straight back to the client.
    let response = if page.status().is_redirection() {
        page
    } else {
        browser.sign_in(page, "alice", PASSWORD).await
    };
    let params = redirect_params(&response);
    let code = param(&params, "code").expect("a code");
    let (status, body) = post_token(
        app,
        tenant,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn post_token(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = http().post(format!("{}/oauth2/token", issuer(app, tenant)));
    let mut body: Vec<(&str, &str)> = form.to_vec();
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.client_id, Some(secret)),
        None => body.push(("client_id", &client.client_id)),
    }
    let response = request.form(&body).send().await.expect("token request");
    let no_store = response.headers()["cache-control"] == "no-store";
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(no_store, "token answers are never cached: {body}");
    (status, body)
}

/// The Native SSO exchange request of §4.1, with `changes` applied: a value replaces
/// the parameter's, an empty value removes it.
async fn trade(
    app: &TestApp,
    client: &Client,
    tokens: &Value,
    changes: &[(&str, &str)],
) -> (StatusCode, Value) {
    trade_at(app, "acme", client, tokens, changes).await
}

async fn trade_at(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    tokens: &Value,
    changes: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        (
            "subject_token",
            tokens["id_token"].as_str().expect("id token"),
        ),
        ("subject_token_type", ID_TOKEN_TYPE),
        (
            "actor_token",
            tokens["device_secret"].as_str().expect("device secret"),
        ),
        ("actor_token_type", DEVICE_SECRET_TYPE),
    ];
    for (name, value) in changes {
        form.retain(|(k, _)| k != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    post_token(app, tenant, client, &form).await
}

/// `ds_hash` as a relying party computes `at_hash` (OIDC Core §3.1.3.6), with the
/// `openidconnect` crate and the tenant's published key: our documented function.
async fn expected_ds_hash(app: &TestApp, id_token: &str, device_secret: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().expect("header"))
            .expect("base64url"),
    )
    .expect("json");
    assert_eq!(header["alg"], "RS256", "the default ID token algorithm");
    let jwks: Value = http()
        .get(format!("{}/oauth2/jwks", issuer(app, "acme")))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the signing key is published");
    let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).expect("a JWK");
    AccessTokenHash::from_token(
        &AccessToken::new(device_secret.to_owned()),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        &key,
    )
    .expect("hash")
    .to_string()
}

/// (what is wrong, the parameters changed, the error expected)
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

#[track_caller]
fn assert_error((status, body): &(StatusCode, Value), expected: &str, case: &str) {
    let want = if expected == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    assert_eq!(
        (*status, body["error"].as_str()),
        (want, Some(expected)),
        "{case}: {body}"
    );
    assert!(body.get("access_token").is_none(), "{case}: never tokens");
}

async fn a_second_native_app_signs_in_with_the_first_apps_id_token_and_device_secret(
    backend: Backend,
) {
    let (app, alice) = acme(backend).await;
    let app1 = sso_app(&app, "acme").await;
    let app2 = sso_app(&app, "acme").await;

    // §3: the code flow with device_sso.
    let first = sign_in(
        &app,
        "acme",
        &app1,
        &Browser::new(&app1.redirect_uri),
        SSO_SCOPE,
    )
    .await;
    assert_eq!(first["scope"], SSO_SCOPE);
    let secret = first["device_secret"].as_str().expect("a device secret");
    assert!(
        secret.len() >= 43 && secret.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "opaque VSCHAR, 256 bits"
    );
    let id_token = first["id_token"].as_str().expect("an ID token");
    let claims = claims_of(id_token);
    assert!(claims["sid"].is_string(), "{claims}");
    assert_eq!(
        claims["ds_hash"],
        expected_ds_hash(&app, id_token, secret).await.as_str()
    );

    // §4: APP2 trades them for its own tokens, in the same session.
    let iss = issuer(&app, "acme");
    let (status, second) = trade(&app, &app2, &first, &[("audience", &iss)]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        second["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "openid");
    assert!(
        second.get("device_secret").is_none(),
        "no device_sso asked: {second}"
    );
    let exchanged = claims_of(second["id_token"].as_str().expect("an ID token for APP2"));
    assert_eq!(exchanged["aud"], app2.client_id.as_str());
    assert_eq!(exchanged["sub"], claims["sub"]);
    assert_eq!(
        exchanged["sub"],
        alice.name.rsplit('/').next().expect("user id")
    );
    assert_eq!(exchanged["sid"], claims["sid"]);
    assert_eq!(exchanged["auth_time"], claims["auth_time"]);
    assert_eq!(
        exchanged["ds_hash"], claims["ds_hash"],
        "bound to the same device secret (OIDF issue 2169)"
    );
    let access = claims_of(second["access_token"].as_str().expect("an access token"));
    assert_eq!(access["sid"], claims["sid"]);
    assert_eq!(access["client_id"], app2.client_id.as_str());
    assert_eq!(
        userinfo_status(&app, &second["access_token"]).await,
        StatusCode::OK
    );
    let (status, refreshed) = refresh(&app, &app2, &second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert!(
        refreshed.get("device_secret").is_none(),
        "a refresh never hands out a device secret (OIDF issue 2170)"
    );
    assert_eq!(
        claims_of(refreshed["id_token"].as_str().expect("id token"))["sid"],
        claims["sid"]
    );

    // With device_sso the device secret comes back, and the ID token is bound to it.
    let (status, with_secret) = trade(&app, &app2, &first, &[("scope", SSO_SCOPE)]).await;
    assert_eq!(status, StatusCode::OK, "{with_secret}");
    assert_eq!(with_secret["device_secret"], secret);
    assert_eq!(with_secret["scope"], SSO_SCOPE);

    // Two hours later the ID token (one hour by default) has expired; the session and
    // the device secret stand, and they are what the exchange checks.
    assert!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .is_some_and(|(e, i)| e - i < 2 * 3600)
    );
    app.clock.advance(Duration::from_secs(2 * 3600));
    let (status, late) = trade(&app, &app2, &first, &[("scope", "openid profile")]).await;
    assert_eq!(status, StatusCode::OK, "{late}");
    assert_eq!(late["scope"], "openid profile");

    // An idle session ends (8 hours by default): the exchange fails with it.
    app.clock.advance(Duration::from_secs(9 * 3600));
    assert_error(
        &trade(&app, &app2, &first, &[]).await,
        "invalid_grant",
        "idle session",
    );
}

async fn device_sso_is_granted_only_to_native_apps_allowed_native_sso(backend: Backend) {
    let (app, _) = acme(backend).await;

    // The setting is for native applications only.
    let refused = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/acme".into(),
            application: Some(pb::Application {
                display_name: "Acme Web".into(),
                r#type: pb::ApplicationType::Web as i32,
                native_sso: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    violation(refused, "application.native_sso", "native");
    let web = client(&app, "acme", WEB).await;
    violation(
        set_native_sso(&app, "acme", &web, true).await,
        "application.native_sso",
        "native",
    );

    // RFC 6749 §3.3: a client not entitled to device_sso is not refused; the scope is
    // left out of the grant, and no device secret is issued.
    let plain_native = client(&app, "acme", NATIVE).await;
    for (name, client) in [("web", &web), ("native without native_sso", &plain_native)] {
        let body = sign_in(
            &app,
            "acme",
            client,
            &Browser::new(&client.redirect_uri),
            "openid device_sso profile",
        )
        .await;
        assert_eq!(body["scope"], "openid profile", "{name}");
        assert!(body.get("device_secret").is_none(), "{name}: {body}");
        let claims = claims_of(body["id_token"].as_str().expect("id token"));
        assert!(claims.get("ds_hash").is_none(), "{name}: {claims}");
    }

    // A Native SSO app that does not ask for device_sso gets neither.
    let app1 = sso_app(&app, "acme").await;
    let body = sign_in(
        &app,
        "acme",
        &app1,
        &Browser::new(&app1.redirect_uri),
        "openid",
    )
    .await;
    assert!(body.get("device_secret").is_none(), "{body}");
    assert!(
        claims_of(body["id_token"].as_str().expect("id token"))
            .get("ds_hash")
            .is_none()
    );

    // Switching it on later is allowed for a native app, and shows.
    let updated = set_native_sso(&app, "acme", &plain_native, true)
        .await
        .expect("native apps may");
    assert!(updated.native_sso);

    // Discovery (Native SSO §5).
    let doc: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer(&app, "acme")
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["native_sso_supported"], true);
    let listed = |field: &str, value: &str| {
        doc[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    assert!(listed("scopes_supported", "device_sso"), "{doc}");
    assert!(listed("grant_types_supported", TOKEN_EXCHANGE), "{doc}");
}

async fn every_failed_exchange_is_refused_with_the_error_of_the_spec(backend: Backend) {
    let (app, _) = acme(backend).await;
    let app1 = sso_app(&app, "acme").await;
    let app2 = sso_app(&app, "acme").await;
    let tokens = sign_in(
        &app,
        "acme",
        &app1,
        &Browser::new(&app1.redirect_uri),
        SSO_SCOPE,
    )
    .await;
    // Another sign-in of alice, in another browser: another session and device secret.
    let other = sign_in(
        &app,
        "acme",
        &app1,
        &Browser::new(&app1.redirect_uri),
        SSO_SCOPE,
    )
    .await;
    assert_ne!(
        claims_of(other["id_token"].as_str().expect("id"))["sid"],
        claims_of(tokens["id_token"].as_str().expect("id"))["sid"]
    );
    // Tenant beta, with its own alice and Native SSO app.
    app.create_tenant("beta").await;
    user(&app, "beta", "alice").await;
    let beta_app = sso_app(&app, "beta").await;
    let beta = sign_in(
        &app,
        "beta",
        &beta_app,
        &Browser::new(&beta_app.redirect_uri),
        SSO_SCOPE,
    )
    .await;

    let id_token = tokens["id_token"].as_str().expect("id token");
    let other_secret = other["device_secret"].as_str().expect("secret");
    let other_id_token = other["id_token"].as_str().expect("id token");
    let beta_secret = beta["device_secret"].as_str().expect("secret");
    let beta_id_token = beta["id_token"].as_str().expect("id token");
    let access_token = tokens["access_token"].as_str().expect("access token");
    let random_secret = "A".repeat(43);
    let tampered = {
        let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
        let mut claims = claims_of(id_token);
        claims["sub"] = Value::String("someone-else".into());
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = id_token.split('.').nth(1).expect("payload");
        format!("{header}.{payload}.")
    };
    let iss = issuer(&app, "acme");
    let iss_b = issuer(&app, "beta");

    let cases: Vec<Case> = vec![
        // RFC 8693 §2.1 and OIDF issue 2101: both tokens and both types are required.
        (
            "no actor_token",
            vec![("actor_token", "")],
            "invalid_request",
        ),
        (
            "no subject_token",
            vec![("subject_token", "")],
            "invalid_request",
        ),
        (
            "no subject_token_type",
            vec![("subject_token_type", "")],
            "invalid_request",
        ),
        (
            "no actor_token_type",
            vec![("actor_token_type", "")],
            "invalid_request",
        ),
        (
            "access token type",
            vec![(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            )],
            "invalid_request",
        ),
        (
            "pre-draft-06 device secret type",
            vec![(
                "actor_token_type",
                "urn:x-oath:params:oauth:token-type:device-secret",
            )],
            "invalid_request",
        ),
        // §4.3: the device secret is the one of this ID token, of this session.
        (
            "another session's device secret",
            vec![("actor_token", other_secret)],
            "invalid_grant",
        ),
        (
            "another session's ID token",
            vec![("subject_token", other_id_token)],
            "invalid_grant",
        ),
        (
            "random device secret",
            vec![("actor_token", &random_secret)],
            "invalid_grant",
        ),
        // OIDF issue 1637: the ID token's signature is verified.
        (
            "edited payload",
            vec![("subject_token", &tampered)],
            "invalid_grant",
        ),
        (
            "alg none",
            vec![("subject_token", &unsigned)],
            "invalid_grant",
        ),
        (
            "an access token as the ID token",
            vec![("subject_token", access_token)],
            "invalid_grant",
        ),
        (
            "tenant beta's ID token and device secret",
            vec![
                ("subject_token", beta_id_token),
                ("actor_token", beta_secret),
            ],
            "invalid_grant",
        ),
        // RFC 8693 §2.2.2: the tokens are asked of this issuer only.
        (
            "audience of APP2's client id",
            vec![("audience", &app2.client_id)],
            "invalid_target",
        ),
        (
            "audience of ISS_B",
            vec![("audience", &iss_b)],
            "invalid_target",
        ),
        (
            "a scope beyond APP2's allow-list",
            vec![("scope", "openid admin")],
            "invalid_scope",
        ),
    ];
    for (case, changes, error) in &cases {
        assert_error(&trade(&app, &app2, &tokens, changes).await, error, case);
    }
    // None of that spent anything: the right request still works.
    let (status, body) = trade(&app, &app2, &tokens, &[("audience", &iss)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Tenant A's artefacts at tenant B, by B's own Native SSO app.
    assert_error(
        &trade_at(&app, "beta", &beta_app, &tokens, &[]).await,
        "invalid_grant",
        "A's tokens at ISS_B",
    );

    // Client rules: only native apps with Native SSO and the token-exchange grant.
    let outsider = native_app(&app, "acme", false, true).await;
    let no_grant = native_app(&app, "acme", true, false).await;
    let web = client(&app, "acme", WEB).await;
    for (case, caller) in [
        ("native without native_sso", &outsider),
        ("native without the token-exchange grant", &no_grant),
        ("a web app", &web),
    ] {
        assert_error(
            &trade(&app, caller, &tokens, &[]).await,
            "unauthorized_client",
            case,
        );
    }
    let unauthenticated = Client {
        secret: None,
        ..client(&app, "acme", WEB).await
    };
    assert_error(
        &trade(&app, &unauthenticated, &tokens, &[]).await,
        "invalid_client",
        "a confidential client without its secret",
    );

    // §4.3: the ID token was issued to a member of the SSO group; once APP1 leaves it,
    // its ID tokens no longer open a session for others.
    set_native_sso(&app, "acme", &app1, false)
        .await
        .expect("updated");
    assert_error(
        &trade(&app, &app2, &tokens, &[]).await,
        "invalid_grant",
        "an ID token of a client outside the group",
    );
}

async fn a_new_device_secret_replaces_the_old_and_an_ended_session_makes_it_useless(
    backend: Backend,
) {
    let (app, alice) = acme(backend).await;
    let app1 = sso_app(&app, "acme").await;
    let app2 = sso_app(&app, "acme").await;
    let browser = Browser::new(&app1.redirect_uri);
    let first = sign_in(&app, "acme", &app1, &browser, SSO_SCOPE).await;

    // The same browser signs in again: same session, a new device secret whose ds_hash
    // is in the new ID token; the old secret is revoked (only digests are stored, so
    // the old one cannot be handed out again).
    let again = sign_in(&app, "acme", &app1, &browser, SSO_SCOPE).await;
    let first_claims = claims_of(first["id_token"].as_str().expect("id"));
    let again_claims = claims_of(again["id_token"].as_str().expect("id"));
    assert_eq!(again_claims["sid"], first_claims["sid"], "the same session");
    assert_ne!(again["device_secret"], first["device_secret"]);
    assert_eq!(
        again_claims["ds_hash"],
        expected_ds_hash(
            &app,
            again["id_token"].as_str().expect("id"),
            again["device_secret"].as_str().expect("secret"),
        )
        .await
        .as_str()
    );
    assert_error(
        &trade(&app, &app2, &first, &[]).await,
        "invalid_grant",
        "the replaced device secret",
    );
    let (status, second) = trade(&app, &app2, &again, &[]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    // Introspection needs a confidential caller.
    let introspector = client(&app, "acme", WEB).await;
    assert_eq!(
        introspect(&app, &introspector, &second["access_token"]).await["active"],
        true
    );

    // Disabling alice ends her sessions: the device secret goes with them, and so do
    // the tokens APP2 got through it.
    set_disabled(&app, &alice, true).await;
    assert_error(
        &trade(&app, &app2, &again, &[]).await,
        "invalid_grant",
        "ended session",
    );
    assert_eq!(
        introspect(&app, &introspector, &second["access_token"]).await["active"],
        false
    );
    assert_eq!(
        userinfo_status(&app, &second["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    // Enabling her again revives nothing.
    set_disabled(&app, &alice, false).await;
    assert_error(
        &trade(&app, &app2, &again, &[]).await,
        "invalid_grant",
        "the session stays ended",
    );
}

async fn set_disabled(app: &TestApp, user: &pb::User, disabled: bool) {
    app.users(app.root())
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: user.name.clone(),
                disabled,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("updated");
}
