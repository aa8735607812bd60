//! The bearer sign-out API (design.md §4.5): `POST {issuer}/auth/v1/user/signout` with an
//! access token, an optional `x-device-id` and an optional `{"redirect_uri", "state"}`;
//! its error shape; and what it ends: the session's refresh tokens, its access tokens
//! and its browser sign-in, or one device's tokens only.

use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::oidc_support::{
    Browser, Client, WEB, acme, assert_invalid_grant, authorize_url, client, http, issuer, param,
    redirect_params, token, user,
};
use crate::refresh_tokens::{introspect, refresh, userinfo_status};

on_both_backends!(
    sign_out_answers_the_registered_post_logout_uri_with_the_state,
    sign_out_without_a_body_answers_an_empty_object,
    only_a_registered_post_logout_uri_of_the_client_is_accepted,
    a_device_id_longer_than_72_characters_is_an_invalid_argument,
    a_missing_malformed_foreign_or_tampered_token_is_unauthenticated,
    a_client_credentials_token_names_no_session_to_sign_out_of,
    an_expired_access_token_still_signs_out,
    sign_out_ends_the_session_everywhere_and_a_retry_gets_the_same_answer,
    sign_out_with_a_device_id_revokes_that_devices_tokens_only,
);

const BYE: &str = "https://rp.example/signed-out";

/// One browser's sign-in: the browser (its cookie is the session) and the token response.
struct SignedIn {
    browser: Browser,
    tokens: Value,
}

/// Signs `username` in with `client` in a new browser and exchanges the code.
async fn sign_in(app: &TestApp, client: &Client, username: &str) -> SignedIn {
    let browser = Browser::new(&client.redirect_uri);
    let (verifier, url) = code_url(app, client);
    let response = browser.authorize(&url, username).await;
    let tokens = exchange_code(app, client, &code_of(&response), &verifier, None).await;
    SignedIn { browser, tokens }
}

/// An authorization URL with a fresh PKCE pair: (verifier, url).
fn code_url(app: &TestApp, client: &Client) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        "acme",
        client,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    (verifier.secret().to_owned(), url)
}

fn code_of(response: &reqwest::Response) -> String {
    param(&redirect_params(response), "code")
        .expect("a code")
        .to_owned()
}

/// The authorization code grant, naming the device with `x-device-id` when given.
async fn exchange_code(
    app: &TestApp,
    client: &Client,
    code: &str,
    verifier: &str,
    device: Option<&str>,
) -> Value {
    let (status, body) = exchange_on(app, client, code, verifier, device).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn exchange_on(
    app: &TestApp,
    client: &Client,
    code: &str,
    verifier: &str,
    device: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = http()
        .post(format!("{}/oauth2/token", issuer(app, "acme")))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ]);
    if let Some(device) = device {
        request = request.header("x-device-id", device);
    }
    let response = request.send().await.expect("token request");
    (response.status(), response.json().await.expect("json"))
}

/// A sign-out call and its answer: status, `WWW-Authenticate`, body.
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn sign_out(
    app: &TestApp,
    tenant: &str,
    authorization: Option<&str>,
    device: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = http().post(format!("{}/auth/v1/user/signout", issuer(app, tenant)));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(device) = device {
        request = request.header("x-device-id", device);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sign-out");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    Answer {
        status: response.status(),
        challenge: header("www-authenticate"),
        cache_control: header("cache-control"),
        body: response.json().await.expect("a JSON body"),
    }
}

fn bearer(tokens: &Value) -> String {
    format!("Bearer {}", tokens["access_token"].as_str().expect("at"))
}

#[track_caller]
fn assert_ok(answer: &Answer, body: Value) {
    assert_eq!((answer.status, &answer.body), (StatusCode::OK, &body));
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

#[track_caller]
fn assert_error(answer: &Answer, status: StatusCode, error: &str, error_code: i64) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], error, "{}", answer.body);
    assert_eq!(answer.body["error_code"], error_code, "{}", answer.body);
    assert!(
        answer.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        answer.body
    );
    assert_eq!(
        answer.body.as_object().map(|o| o.len()),
        Some(3),
        "exactly error, error_code and error_description: {}",
        answer.body
    );
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

#[track_caller]
fn assert_unauthenticated(answer: &Answer) {
    assert_error(answer, StatusCode::UNAUTHORIZED, "unauthenticated", 16);
    assert!(
        answer
            .challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer ") && c.contains("error=\"invalid_token\"")),
        "{:?}",
        answer.challenge
    );
}

async fn register_post_logout(app: &TestApp, client: &Client, uri: &str) {
    app.applications(app.root())
        .create_redirect_uri(pb::CreateRedirectUriRequest {
            parent: format!("tenants/acme/applications/{}", client.client_id),
            redirect_uri: Some(pb::RedirectUri {
                uri: uri.to_owned(),
                purpose: pb::RedirectUriPurpose::PostLogout as i32,
                environment: pb::Environment::Production as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("post-logout URI");
}

/// `prompt=none` from `browser`: the error the client's callback receives, if any.
async fn prompt_none(app: &TestApp, client: &Client, browser: &Browser) -> Option<String> {
    let (_, url) = code_url(app, client);
    let response = browser.open(&format!("{url}&prompt=none")).await;
    param(&redirect_params(&response), "error").map(str::to_owned)
}

async fn sign_out_answers_the_registered_post_logout_uri_with_the_state(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    register_post_logout(&app, &web, BYE).await;
    register_post_logout(&app, &web, "https://rp.example/bye?lang=en").await;
    let alice = sign_in(&app, &web, "alice").await;

    let answer = sign_out(
        &app,
        "acme",
        Some(&bearer(&alice.tokens)),
        None,
        Some(json!({ "redirect_uri": BYE, "state": "a b&c=d" })),
    )
    .await;
    assert_ok(
        &answer,
        json!({ "redirect_uri": format!("{BYE}?state=a+b%26c%3Dd") }),
    );

    let again = sign_in(&app, &web, "alice").await;
    let answer = sign_out(
        &app,
        "acme",
        Some(&bearer(&again.tokens)),
        None,
        Some(json!({ "redirect_uri": "https://rp.example/bye?lang=en", "state": "xyz" })),
    )
    .await;
    assert_ok(
        &answer,
        json!({ "redirect_uri": "https://rp.example/bye?lang=en&state=xyz" }),
    );
    app.stop().await;
}

async fn sign_out_without_a_body_answers_an_empty_object(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    register_post_logout(&app, &web, BYE).await;
    let alice = sign_in(&app, &web, "alice").await;
    let answer = sign_out(&app, "acme", Some(&bearer(&alice.tokens)), None, None).await;
    assert_ok(&answer, json!({}));

    // A redirect_uri without state is answered as it is.
    let again = sign_in(&app, &web, "alice").await;
    let answer = sign_out(
        &app,
        "acme",
        Some(&bearer(&again.tokens)),
        None,
        Some(json!({ "redirect_uri": BYE })),
    )
    .await;
    assert_ok(&answer, json!({ "redirect_uri": BYE }));

    // Cookies never authenticate this API, and only POST is served.
    let response = again
        .browser
        .http
        .post(format!("{}/auth/v1/user/signout", issuer(&app, "acme")))
        .send()
        .await
        .expect("cookie-only sign-out");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http()
        .get(format!("{}/auth/v1/user/signout", issuer(&app, "acme")))
        .bearer_auth(again.tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

async fn only_a_registered_post_logout_uri_of_the_client_is_accepted(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    register_post_logout(&app, &web, BYE).await;
    let other = client(&app, "acme", WEB).await;
    register_post_logout(&app, &other, "https://other.example/bye").await;
    let alice = sign_in(&app, &web, "alice").await;
    let token = bearer(&alice.tokens);

    for (body, why) in [
        (
            json!({ "redirect_uri": web.redirect_uri, "state": "s" }),
            "a callback URI is no post-logout URI",
        ),
        (
            json!({ "redirect_uri": "https://evil.example/bye" }),
            "unregistered",
        ),
        (
            json!({ "redirect_uri": "https://other.example/bye" }),
            "another client's",
        ),
        (json!({ "redirect_uri": format!("{BYE}/") }), "not exact"),
        (json!({ "redirect_uri": 42 }), "not a string"),
    ] {
        let answer = sign_out(&app, "acme", Some(&token), None, Some(body)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_argument", 3);
        assert!(answer.challenge.is_none(), "{why}");
    }
    let malformed = http()
        .post(format!("{}/auth/v1/user/signout", issuer(&app, "acme")))
        .header("authorization", &token)
        .header("content-type", "application/json")
        .body("{\"redirect_uri\":")
        .send()
        .await
        .expect("sign-out");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    // A refused request revoked nothing.
    let (status, body) = refresh(&app, &web, &alice.tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}

async fn a_device_id_longer_than_72_characters_is_an_invalid_argument(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let alice = sign_in(&app, &web, "alice").await;
    let token = bearer(&alice.tokens);

    let answer = sign_out(&app, "acme", Some(&token), Some(&"d".repeat(73)), None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_argument", 3);
    assert!(
        answer.body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("72")),
        "{}",
        answer.body
    );
    let answer = sign_out(&app, "acme", Some(&token), Some("my phone"), None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_argument", 3);

    // At sign-in, the token endpoint refuses it in its own (OAuth) shape.
    let browser = Browser::new(&web.redirect_uri);
    let (verifier, url) = code_url(&app, &web);
    let code = code_of(&browser.authorize(&url, "alice").await);
    let (status, body) = exchange_on(&app, &web, &code, &verifier, Some(&"d".repeat(73))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // Exactly 72 is fine, and nothing was revoked by the refusals.
    let answer = sign_out(&app, "acme", Some(&token), Some(&"d".repeat(72)), None).await;
    assert_ok(&answer, json!({}));
    app.stop().await;
}

async fn a_missing_malformed_foreign_or_tampered_token_is_unauthenticated(backend: Backend) {
    let (app, _) = acme(backend).await;
    app.create_tenant("globex").await;
    let web = client(&app, "acme", WEB).await;
    let alice = sign_in(&app, &web, "alice").await;
    let at = alice.tokens["access_token"].as_str().expect("at");

    let missing = sign_out(&app, "acme", None, None, None).await;
    assert_error(&missing, StatusCode::UNAUTHORIZED, "unauthenticated", 16);
    assert_eq!(
        missing.challenge.as_deref(),
        Some("Bearer realm=\"keyhaven\""),
        "RFC 6750 §3.1: no error code when no token was sent"
    );
    let basic = sign_out(&app, "acme", Some("Basic YWxpY2U6c2VjcmV0"), None, None).await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "unauthenticated", 16);

    let mut tampered = at.to_owned();
    let last = tampered.pop().expect("signature");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let id_token = format!("Bearer {}", alice.tokens["id_token"].as_str().expect("id"));
    for authorization in [
        "Bearer not-a-jwt".to_owned(),
        format!("Bearer {tampered}"),
        id_token,
    ] {
        let answer = sign_out(&app, "acme", Some(&authorization), None, None).await;
        assert_unauthenticated(&answer);
    }
    // acme's token at globex: another issuer, keys it does not know.
    let foreign = sign_out(&app, "globex", Some(&bearer(&alice.tokens)), None, None).await;
    assert_unauthenticated(&foreign);

    // None of them signed alice out; the scheme is case-insensitive.
    let (status, body) = refresh(&app, &web, &alice.tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = sign_out(&app, "acme", Some(&format!("bEaReR {at}")), None, None).await;
    assert_ok(&answer, json!({}));
    app.stop().await;
}

async fn a_client_credentials_token_names_no_session_to_sign_out_of(backend: Backend) {
    let (app, _) = acme(backend).await;
    let (service, secret) = app.create_app("acme", pb::ApplicationType::Service).await;
    let service = Client {
        client_id: service.client_id,
        secret: Some(secret),
        redirect_uri: String::new(),
    };
    let (status, tokens) = token(&app, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let answer = sign_out(&app, "acme", Some(&bearer(&tokens)), None, None).await;
    assert_unauthenticated(&answer);
    assert!(
        answer.body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("session")),
        "{}",
        answer.body
    );
    app.stop().await;
}

async fn an_expired_access_token_still_signs_out(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let alice = sign_in(&app, &web, "alice").await;
    let lifetime = alice.tokens["expires_in"].as_u64().expect("expires_in");
    app.clock.advance(Duration::from_secs(lifetime + 1));
    assert_eq!(
        userinfo_status(&app, &alice.tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED,
        "expired"
    );

    let answer = sign_out(&app, "acme", Some(&bearer(&alice.tokens)), None, None).await;
    assert_ok(&answer, json!({}));
    assert_invalid_grant(&refresh(&app, &web, &alice.tokens["refresh_token"]).await);
    app.stop().await;
}

async fn sign_out_ends_the_session_everywhere_and_a_retry_gets_the_same_answer(backend: Backend) {
    let (app, _) = acme(backend).await;
    user(&app, "acme", "bob").await;
    let web = client(&app, "acme", WEB).await;
    let alice = sign_in(&app, &web, "alice").await;
    // A second code in the same browser session: another token family of the same sid.
    let (verifier, url) = code_url(&app, &web);
    let code = code_of(&alice.browser.open(&url).await);
    let second = exchange_code(&app, &web, &code, &verifier, None).await;
    let bob = sign_in(&app, &web, "bob").await;
    assert_eq!(prompt_none(&app, &web, &alice.browser).await, None);

    let answer = sign_out(&app, "acme", Some(&bearer(&alice.tokens)), None, None).await;
    assert_ok(&answer, json!({}));

    for tokens in [&alice.tokens, &second] {
        assert_invalid_grant(&refresh(&app, &web, &tokens["refresh_token"]).await);
        assert_eq!(
            introspect(&app, &web, &tokens["access_token"]).await,
            json!({ "active": false })
        );
        assert_eq!(
            userinfo_status(&app, &tokens["access_token"]).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        prompt_none(&app, &web, &alice.browser).await.as_deref(),
        Some("login_required")
    );

    // Idempotent: the same call again gets the same answer; so does the session's other
    // access token, whose session this call ended.
    let retry = sign_out(&app, "acme", Some(&bearer(&alice.tokens)), None, None).await;
    assert_ok(&retry, json!({}));
    let other = sign_out(&app, "acme", Some(&bearer(&second)), None, None).await;
    assert_ok(&other, json!({}));

    // bob is untouched.
    let (status, body) = refresh(&app, &web, &bob.tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(prompt_none(&app, &web, &bob.browser).await, None);
    app.stop().await;
}

async fn sign_out_with_a_device_id_revokes_that_devices_tokens_only(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(&web.redirect_uri);
    let (verifier, url) = code_url(&app, &web);
    let code = code_of(&browser.authorize(&url, "alice").await);
    let phone = exchange_code(&app, &web, &code, &verifier, Some("phone-1")).await;
    let (verifier, url) = code_url(&app, &web);
    let code = code_of(&browser.open(&url).await);
    let tablet = exchange_code(&app, &web, &code, &verifier, Some("tablet-2")).await;
    assert_eq!(
        session_of(&phone),
        session_of(&tablet),
        "one session, two devices"
    );
    // A refresh keeps the device: the phone's rotated token goes too.
    let (status, phone) = refresh(&app, &web, &phone["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{phone}");

    let answer = sign_out(&app, "acme", Some(&bearer(&phone)), Some("phone-1"), None).await;
    assert_ok(&answer, json!({}));
    assert_invalid_grant(&refresh(&app, &web, &phone["refresh_token"]).await);
    assert_eq!(
        introspect(&app, &web, &phone["access_token"]).await,
        json!({ "active": false })
    );
    assert_eq!(
        userinfo_status(&app, &phone["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );

    // The tablet and the browser session stay signed in.
    assert_eq!(
        userinfo_status(&app, &tablet["access_token"]).await,
        StatusCode::OK
    );
    let (status, body) = refresh(&app, &web, &tablet["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(prompt_none(&app, &web, &browser).await, None);

    // A retry gets the same 200.
    let retry = sign_out(&app, "acme", Some(&bearer(&phone)), Some("phone-1"), None).await;
    assert_ok(&retry, json!({}));
    app.stop().await;
}

/// The `sid` of a token response's access token.
fn session_of(tokens: &Value) -> Value {
    crate::oidc_support::claims_of(tokens["access_token"].as_str().expect("at"))["sid"].clone()
}
