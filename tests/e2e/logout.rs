//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0; design.md §4.5): the
//! relying party (the `openidconnect` crate where it can) sends the browser to the
//! `end_session_endpoint` it discovered; then what must be true of the session: its
//! refresh tokens are `invalid_grant`, its access tokens introspect inactive and fail at
//! userinfo, and `prompt=none` asks for a login. Then what never redirects: bad hints and
//! post-logout URIs, and the confirmation a logout without a hint needs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::core::CoreIdToken;
use openidconnect::{
    CsrfToken, IssuerUrl, LogoutRequest, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::oidc_support::{
    self, Browser, Client, PASSWORD, WEB, acme, assert_error_page, assert_invalid_grant,
    authorize_url, client, http, issuer, param, redirect_params,
};
use crate::refresh_tokens::{introspect, userinfo_status};

on_both_backends!(
    a_hint_and_a_registered_uri_end_the_session_revoke_its_tokens_and_redirect_with_state,
    a_form_post_and_an_expired_hint_log_out_like_a_get,
    a_bad_hint_gets_an_error_page_and_the_session_stays,
    a_post_logout_uri_not_registered_for_logout_and_enabled_gets_an_error_page_that_says_why,
    a_client_id_other_than_the_hints_audience_is_refused,
    without_a_hint_the_user_confirms_with_a_form_only_this_browser_can_post,
    a_hint_naming_another_session_than_the_browsers_asks_first,
    a_repeated_parameter_is_refused_and_no_parameters_sign_out_after_confirmation,
);

const LOGGED_OUT: &str = "https://rp.example/logged-out";
const STAGING_LOGGED_OUT: &str = "https://staging.rp.example/logged-out";

// ---- helpers ------------------------------------------------------------------------

/// The WEB client of `tenant` with `LOGGED_OUT` registered for logout.
async fn rp(app: &TestApp, tenant: &str) -> Client {
    let web = client(app, tenant, WEB).await;
    register_post_logout(app, tenant, &web, LOGGED_OUT, pb::Environment::Production).await;
    web
}

async fn register_post_logout(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    uri: &str,
    environment: pb::Environment,
) {
    app.applications(app.root())
        .create_redirect_uri(pb::CreateRedirectUriRequest {
            parent: format!("tenants/{tenant}/applications/{}", client.client_id),
            redirect_uri: Some(pb::RedirectUri {
                uri: uri.to_owned(),
                purpose: pb::RedirectUriPurpose::PostLogout as i32,
                environment: environment as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("post-logout URI");
}

/// A browser that stops at anything of the relying party (its callback and its
/// post-logout page), which nothing serves here.
fn browser() -> Browser {
    Browser::new("https://rp.example/")
}

/// Signs `username` in at `tenant` with `client` in `browser` (or reuses the browser's
/// session) and exchanges the code: the token response.
async fn sign_in(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    browser: &Browser,
    username: &str,
) -> Value {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        tenant,
        client,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = browser.open(&url).await;
    let response = if page.status().is_redirection() {
        page
    } else {
        browser.sign_in(page, username, PASSWORD).await
    };
    let params = redirect_params(&response);
    let code = param(&params, "code").expect("a code");
    let response = http()
        .post(format!("{}/oauth2/token", issuer(app, tenant)))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert!(body["refresh_token"].is_string(), "{body}");
    body
}

/// The answer to `prompt=none` from `browser`: `Ok(code)` or `Err(error)`.
async fn prompt_none(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    browser: &Browser,
) -> Result<String, String> {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        tenant,
        client,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    );
    let params = redirect_params(&browser.open(&url).await);
    match (param(&params, "code"), param(&params, "error")) {
        (Some(code), _) => Ok(code.to_owned()),
        (None, error) => Err(error.unwrap_or_default().to_owned()),
    }
}

async fn refresh_at(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    tokens: &Value,
) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/oauth2/token", issuer(app, tenant)))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ])
        .send()
        .await
        .expect("refresh");
    (response.status(), response.json().await.expect("json"))
}

/// Everything issued in the session is dead and the browser is asked to sign in again.
async fn assert_logged_out(app: &TestApp, client: &Client, browser: &Browser, tokens: &Value) {
    assert_invalid_grant(&refresh_at(app, "acme", client, tokens).await);
    for token in ["access_token", "refresh_token"] {
        assert_eq!(
            introspect(app, client, &tokens[token]).await,
            serde_json::json!({ "active": false }),
            "{token}"
        );
    }
    assert_eq!(
        userinfo_status(app, &tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        prompt_none(app, "acme", client, browser).await,
        Err("login_required".to_owned())
    );
}

/// The session is untouched: silent sign-in still works and the access token is good.
async fn assert_still_signed_in(app: &TestApp, client: &Client, browser: &Browser, tokens: &Value) {
    assert!(prompt_none(app, "acme", client, browser).await.is_ok());
    assert_eq!(
        userinfo_status(app, &tokens["access_token"]).await,
        StatusCode::OK
    );
}

fn end_session(app: &TestApp, tenant: &str) -> String {
    format!("{}/oauth2/logout", issuer(app, tenant))
}

/// The end-session URL with these parameters.
fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&end_session(app, "acme"), params)
        .expect("url")
        .to_string()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().expect("ascii")
}

fn id_token(tokens: &Value) -> &str {
    tokens["id_token"].as_str().expect("id token")
}

/// The hidden fields of a page's form, HTML entities undone.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[start + 27..];
        let name_end = rest.find('"').expect("name");
        let name = rest[..name_end].to_owned();
        let value_start = rest.find("value=\"").expect("value") + 7;
        let value_end = value_start + rest[value_start..].find('"').expect("value end");
        let value = rest[value_start..value_end]
            .replace("&#43;", "+")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        fields.push((name, value));
        rest = &rest[value_end..];
    }
    fields
}

/// Posts the confirmation form of `page` (a 200 confirmation page), with its fields
/// changed by `edit`.
async fn confirm(
    app: &TestApp,
    browser: &Browser,
    page: reqwest::Response,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> reqwest::Response {
    assert_eq!(page.status(), StatusCode::OK, "the confirmation page");
    let html = page.text().await.expect("html");
    assert!(html.contains("Sign out of"), "{html}");
    let mut fields = hidden_fields(&html);
    fields.push(("confirm".into(), "yes".into()));
    edit(&mut fields);
    browser
        .http
        .post(end_session(app, "acme"))
        .form(&fields)
        .send()
        .await
        .expect("confirmation")
}

async fn assert_signed_out_page(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.url().path().ends_with("/t/acme/logged-out"),
        "{}",
        response.url()
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("You are signed out"), "{html}");
}

// ---- tests --------------------------------------------------------------------------

async fn a_hint_and_a_registered_uri_end_the_session_revoke_its_tokens_and_redirect_with_state(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;

    let metadata = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(issuer(&app, "acme")).expect("issuer"),
        &http(),
    )
    .await
    .expect("discovery");
    let endpoint = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint in discovery");
    assert_eq!(endpoint.url().as_str(), end_session(&app, "acme"));
    let hint: CoreIdToken = id_token(&tokens).parse().expect("an ID token");
    let url = LogoutRequest::from(endpoint)
        .set_id_token_hint(&hint)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(LOGGED_OUT.into()).expect("url"))
        .set_state(CsrfToken::new("af0ifjsldkj".into()))
        .add_ui_locale(openidconnect::LanguageTag::new("fr-CA".into()))
        .http_get_url();

    let response = browser.open(url.as_str()).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(
        location(&response),
        format!("{LOGGED_OUT}?state=af0ifjsldkj")
    );
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kh_session="))
        .expect("the session cookie is expired")
        .to_owned();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/t/acme"),
        "{cleared}"
    );
    assert_logged_out(&app, &web, &browser, &tokens).await;

    // Logging out again, with no session left, is not an error (RP-Initiated Logout §4).
    let again = browser.open(url.as_str()).await;
    assert_eq!(location(&again), format!("{LOGGED_OUT}?state=af0ifjsldkj"));
    // Without state, the URI exactly as registered.
    let no_state = browser
        .open(&logout_url(
            &app,
            &[
                ("id_token_hint", id_token(&tokens)),
                ("post_logout_redirect_uri", LOGGED_OUT),
            ],
        ))
        .await;
    assert_eq!(location(&no_state), LOGGED_OUT);
    app.stop().await;
}

async fn a_form_post_and_an_expired_hint_log_out_like_a_get(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    // Past the ID token's lifetime (an hour), within the session's.
    app.clock.advance(Duration::from_secs(2 * 3600));
    let claims = oidc_support::claims_of(id_token(&tokens));
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert!(lifetime < 2 * 3600, "the hint has expired");
    let fresh = sign_in(&app, "acme", &web, &browser, "alice").await;
    let response = browser
        .http
        .post(end_session(&app, "acme"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("id_token_hint", id_token(&tokens)),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "a b&c"),
        ])
        .send()
        .await
        .expect("logout");
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(location(&response), format!("{LOGGED_OUT}?state=a+b%26c"));
    assert_logged_out(&app, &web, &browser, &fresh).await;

    // A hint without a post-logout URI ends at the signed-out page.
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    let response = browser
        .open(&logout_url(
            &app,
            &[("id_token_hint", id_token(&tokens)), ("state", "s")],
        ))
        .await;
    assert_signed_out_page(response).await;
    assert_logged_out(&app, &web, &browser, &tokens).await;
    app.stop().await;
}

async fn a_bad_hint_gets_an_error_page_and_the_session_stays(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    app.create_tenant("globex").await;
    oidc_support::user(&app, "globex", "alice").await;
    let globex = rp(&app, "globex").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    let elsewhere = sign_in(&app, "globex", &globex, &browser, "alice").await;

    let hint = id_token(&tokens);
    let parts: Vec<&str> = hint.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    signature[5] ^= 0x20;
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("header")).expect("json");
    let none_header = URL_SAFE_NO_PAD.encode(
        serde_json::json!({ "alg": "none", "kid": header["kid"], "typ": "JWT" }).to_string(),
    );
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let truncated = format!("{}.{}", parts[0], parts[1]);
    for (case, bad) in [
        ("another tenant's ID token", id_token(&elsewhere)),
        ("a tampered signature", tampered.as_str()),
        ("alg none", alg_none.as_str()),
        ("truncated", truncated.as_str()),
        (
            "an access token",
            tokens["access_token"].as_str().expect("at"),
        ),
    ] {
        let response = browser
            .open(&logout_url(
                &app,
                &[
                    ("id_token_hint", bad),
                    ("post_logout_redirect_uri", LOGGED_OUT),
                    ("state", "s"),
                ],
            ))
            .await;
        let html = assert_error_page(response, StatusCode::BAD_REQUEST).await;
        assert!(html.contains("id_token_hint"), "{case}: {html}");
        assert_still_signed_in(&app, &web, &browser, &tokens).await;
    }

    // A good logout ends this tenant's session only.
    let response = browser
        .open(&logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", LOGGED_OUT),
            ],
        ))
        .await;
    assert_eq!(location(&response), LOGGED_OUT);
    assert_logged_out(&app, &web, &browser, &tokens).await;
    assert!(prompt_none(&app, "globex", &globex, &browser).await.is_ok());
    let (status, _) = refresh_at(&app, "globex", &globex, &elsewhere).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

async fn a_post_logout_uri_not_registered_for_logout_and_enabled_gets_an_error_page_that_says_why(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    register_post_logout(
        &app,
        "acme",
        &web,
        STAGING_LOGGED_OUT,
        pb::Environment::Staging,
    )
    .await;
    let other = client(&app, "acme", WEB).await;
    register_post_logout(
        &app,
        "acme",
        &other,
        "https://rp.example/other-logged-out",
        pb::Environment::Production,
    )
    .await;
    app.tenants(app.root())
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant {
                name: "tenants/acme".into(),
                disabled_environments: vec![pb::Environment::Staging as i32],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled_environments".into()],
            }),
        })
        .await
        .expect("staging switched off");
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    let hint = id_token(&tokens);

    for (uri, why) in [
        (
            "https://rp.example/unregistered",
            "not a registered post-logout URI",
        ),
        (
            "https://rp.example/logged-out?foo=bar",
            "not a registered post-logout URI",
        ),
        (
            "https://rp.example/logged-out/",
            "not a registered post-logout URI",
        ),
        (
            "https://rp.example/other-logged-out",
            "not a registered post-logout URI",
        ),
        (
            web.redirect_uri.as_str(),
            "registered as a sign-in callback",
        ),
        (STAGING_LOGGED_OUT, "environment is switched off"),
    ] {
        let response = browser
            .open(&logout_url(
                &app,
                &[
                    ("id_token_hint", hint),
                    ("post_logout_redirect_uri", uri),
                    ("state", "s"),
                ],
            ))
            .await;
        let html = assert_error_page(response, StatusCode::BAD_REQUEST).await;
        assert!(html.contains(why), "{uri}: {html}");
        assert_still_signed_in(&app, &web, &browser, &tokens).await;
    }
    // Without a hint or a client_id, no URI can be checked.
    let response = browser
        .open(&logout_url(
            &app,
            &[("post_logout_redirect_uri", LOGGED_OUT)],
        ))
        .await;
    let html = assert_error_page(response, StatusCode::BAD_REQUEST).await;
    assert!(
        html.contains("needs an id_token_hint or a client_id"),
        "{html}"
    );
    assert_still_signed_in(&app, &web, &browser, &tokens).await;
    app.stop().await;
}

async fn a_client_id_other_than_the_hints_audience_is_refused(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    let other = rp(&app, "acme").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    for client_id in [other.client_id.as_str(), "no-such-client"] {
        let response = browser
            .open(&logout_url(
                &app,
                &[
                    ("id_token_hint", id_token(&tokens)),
                    ("client_id", client_id),
                    ("post_logout_redirect_uri", LOGGED_OUT),
                ],
            ))
            .await;
        let html = assert_error_page(response, StatusCode::BAD_REQUEST).await;
        assert!(html.contains("client_id is not the client"), "{html}");
        assert_still_signed_in(&app, &web, &browser, &tokens).await;
    }
    // The matching client_id is fine.
    let response = browser
        .open(&logout_url(
            &app,
            &[
                ("id_token_hint", id_token(&tokens)),
                ("client_id", web.client_id.as_str()),
                ("post_logout_redirect_uri", LOGGED_OUT),
            ],
        ))
        .await;
    assert_eq!(location(&response), LOGGED_OUT);
    assert_logged_out(&app, &web, &browser, &tokens).await;
    app.stop().await;
}

async fn without_a_hint_the_user_confirms_with_a_form_only_this_browser_can_post(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    let url = logout_url(
        &app,
        &[
            ("client_id", web.client_id.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "xyz"),
        ],
    );
    let open = || async { browser.open(&url).await };

    let page = open().await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("location").is_none());
    let headers = page.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.contains("frame-ancestors 'none'")),
        "{headers:?}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("alice") && html.contains("Acme Web"),
        "{html}"
    );
    assert_still_signed_in(&app, &web, &browser, &tokens).await;

    let refused = [
        confirm(&app, &browser, open().await, |f| {
            f.retain(|(k, _)| k != "csrf")
        })
        .await,
        confirm(&app, &browser, open().await, |f| {
            for (k, v) in f.iter_mut() {
                if k == "csrf" {
                    *v = "forged".into();
                }
            }
        })
        .await,
    ];
    for response in refused {
        assert_error_page(response, StatusCode::FORBIDDEN).await;
    }
    // The right token from another site is refused too.
    let html = open().await.text().await.expect("html");
    let mut fields = hidden_fields(&html);
    fields.push(("confirm".into(), "yes".into()));
    let cross_site = browser
        .http
        .post(end_session(&app, "acme"))
        .header("origin", "https://evil.example")
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_error_page(cross_site, StatusCode::FORBIDDEN).await;
    // Another browser's token is not this browser's.
    let stranger = crate::oidc_support::Browser::new("https://rp.example/");
    let stolen = stranger
        .http
        .post(end_session(&app, "acme"))
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert!(stolen.headers().get("location").is_none());
    assert_still_signed_in(&app, &web, &browser, &tokens).await;

    let response = confirm(&app, &browser, open().await, |_| {}).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(location(&response), format!("{LOGGED_OUT}?state=xyz"));
    assert_logged_out(&app, &web, &browser, &tokens).await;
    app.stop().await;
}

async fn a_hint_naming_another_session_than_the_browsers_asks_first(backend: Backend) {
    let (app, _) = acme(backend).await;
    oidc_support::user(&app, "acme", "bob").await;
    let web = rp(&app, "acme").await;
    let alices = browser();
    let alice = sign_in(&app, "acme", &web, &alices, "alice").await;
    let bobs = browser();
    let bob = sign_in(&app, "acme", &web, &bobs, "bob").await;

    // Alice's hint in Bob's browser: Bob is asked, and nothing ends until he confirms.
    let url = logout_url(
        &app,
        &[
            ("id_token_hint", id_token(&alice)),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "s"),
        ],
    );
    let page = bobs.open(&url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("location").is_none());
    assert_still_signed_in(&app, &web, &bobs, &bob).await;
    assert_still_signed_in(&app, &web, &alices, &alice).await;

    let response = confirm(&app, &bobs, page, |_| {}).await;
    assert_eq!(location(&response), format!("{LOGGED_OUT}?state=s"));
    assert_logged_out(&app, &web, &bobs, &bob).await;
    assert_logged_out(&app, &web, &alices, &alice).await;
    app.stop().await;
}

async fn a_repeated_parameter_is_refused_and_no_parameters_sign_out_after_confirmation(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = rp(&app, "acme").await;
    let browser = browser();
    let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
    let repeated = format!("{}?state=a&state=b", end_session(&app, "acme"));
    let html = assert_error_page(browser.open(&repeated).await, StatusCode::BAD_REQUEST).await;
    assert!(html.contains("state is repeated"), "{html}");
    let posted = browser
        .http
        .post(end_session(&app, "acme"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("state=a&state=b")
        .send()
        .await
        .expect("post");
    assert_error_page(posted, StatusCode::BAD_REQUEST).await;
    assert_still_signed_in(&app, &web, &browser, &tokens).await;

    for only in [vec![], vec![("state", "only-state")]] {
        let tokens = sign_in(&app, "acme", &web, &browser, "alice").await;
        let page = browser.open(&logout_url(&app, &only)).await;
        let response = confirm(&app, &browser, page, |_| {}).await;
        assert_signed_out_page(response).await;
        assert_logged_out(&app, &web, &browser, &tokens).await;
    }
    app.stop().await;
}
