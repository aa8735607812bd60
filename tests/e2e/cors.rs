//! CORS, as a browser sees it: token, userinfo and revocation answer only the origins
//! registered on a `spa` application of their own tenant (echoed, with `Vary: Origin`,
//! errors included); discovery and JWKS are public documents readable from any origin;
//! the pages and introspection are never CORS. A refused origin gets no CORS headers at
//! all, which is what makes the browser withhold the answer.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::oidc_support::{
    Client, WEB, acme, authorize_url, client, code_for, http, issuer, register,
};

on_both_backends!(
    a_preflight_from_an_origin_of_a_spa_application_is_answered_with_that_origin,
    a_preflight_from_an_origin_registered_nowhere_or_for_no_spa_of_this_tenant_gets_no_cors_headers,
    token_and_userinfo_answers_carry_cors_headers_for_a_spa_origin_and_none_for_others,
    oauth_errors_carry_cors_headers_so_the_spa_can_read_them,
    an_origin_removed_from_its_application_is_refused_at_once,
    discovery_and_jwks_are_readable_from_any_origin,
    pages_and_introspection_are_never_cors,
);

const SPA_ORIGIN: &str = "https://spa.example.com";
const LOCAL_SPA_ORIGIN: &str = "http://localhost:5173";
/// Registered on a spa application of tenant globex, not acme.
const GLOBEX_SPA_ORIGIN: &str = "https://spa.globex.example";
/// The origin of the web application's redirect URI (web applications register none).
const WEB_ORIGIN: &str = "https://rp.example";
const SPA_CALLBACK: &str = "http://127.0.0.1/callback";

// ---- arrange ---------------------------------------------------------------------------

struct Fixture {
    app: TestApp,
    spa: Client,
    web: Client,
}

/// Tenant acme with user alice, a spa application with two origins and a web
/// application; tenant globex with a spa application of its own.
async fn fixture(backend: Backend) -> Fixture {
    let (app, _) = acme(backend).await;
    app.create_tenant("globex").await;
    let spa = spa(&app, "acme", &[SPA_ORIGIN, LOCAL_SPA_ORIGIN]).await;
    spa_app(&app, "globex", &[GLOBEX_SPA_ORIGIN]).await;
    let web = client(&app, "acme", WEB).await;
    Fixture { app, spa, web }
}

async fn spa_app(app: &TestApp, tenant: &str, origins: &[&str]) -> pb::Application {
    app.applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: format!("tenants/{tenant}"),
            application: Some(pb::Application {
                display_name: "Acme SPA".into(),
                r#type: pb::ApplicationType::Spa as i32,
                scopes: vec!["profile".into(), "email".into()],
                first_party: true,
                allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("spa application")
        .into_inner()
        .application
        .expect("application")
}

async fn spa(app: &TestApp, tenant: &str, origins: &[&str]) -> Client {
    let application = spa_app(app, tenant, origins).await;
    register(
        app,
        &application.name,
        SPA_CALLBACK,
        pb::Environment::Localhost,
    )
    .await;
    Client {
        client_id: application.client_id,
        secret: None,
        redirect_uri: SPA_CALLBACK.to_owned(),
    }
}

// ---- act: what a browser sends ---------------------------------------------------------

fn endpoint(app: &TestApp, tenant: &str, path: &str) -> String {
    format!("{}{path}", issuer(app, tenant))
}

/// The preflight a browser sends before a cross-origin request with `method` and an
/// `Authorization` or JSON/form `Content-Type` header.
async fn preflight(
    app: &TestApp,
    tenant: &str,
    path: &str,
    origin: &str,
    method: &str,
) -> reqwest::Response {
    http()
        .request(Method::OPTIONS, endpoint(app, tenant, path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-device-id",
        )
        .send()
        .await
        .expect("preflight")
}

/// A token request of the public `client`, from a page of `origin`.
async fn token_from(
    app: &TestApp,
    client: &Client,
    origin: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut body = form.to_vec();
    body.push(("client_id", &client.client_id));
    http()
        .post(endpoint(app, "acme", "/oauth2/token"))
        .header("origin", origin)
        .form(&body)
        .send()
        .await
        .expect("token request")
}

async fn code_exchange_from(app: &TestApp, spa: &Client, origin: &str) -> reqwest::Response {
    let (code, verifier) = code_for(app, spa, "alice").await;
    token_from(
        app,
        spa,
        origin,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &spa.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await
}

async fn userinfo_from(app: &TestApp, origin: &str, token: &str) -> reqwest::Response {
    http()
        .get(endpoint(app, "acme", "/oauth2/userinfo"))
        .header("origin", origin)
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
}

// ---- assert: what the browser reads --------------------------------------------------

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
}

fn varies_on_origin(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// Readable by a page of `origin`: that origin echoed (never `*`), `Vary: Origin`, and no
/// credentials mode.
#[track_caller]
fn assert_readable_by(response: &reqwest::Response, origin: &str) {
    assert_eq!(
        header(response, "access-control-allow-origin"),
        Some(origin),
        "{:?}",
        response.headers()
    );
    assert!(varies_on_origin(response), "{:?}", response.headers());
    assert_eq!(
        header(response, "access-control-allow-credentials"),
        None,
        "no cookies cross origins"
    );
}

/// No CORS header at all: the browser withholds the answer from the page.
#[track_caller]
fn assert_no_cors(response: &reqwest::Response) {
    let cors: Vec<_> = response
        .headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "unexpected CORS headers {cors:?}");
}

#[track_caller]
fn assert_preflight_allows(response: &reqwest::Response, origin: &str, method: &str) {
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_readable_by(response, origin);
    let methods = header(response, "access-control-allow-methods").expect("allowed methods");
    assert!(
        methods.split(',').any(|m| m.trim() == method),
        "{method} in {methods}"
    );
    let headers = header(response, "access-control-allow-headers")
        .expect("allowed headers")
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "x-device-id"] {
        assert!(
            headers.split(',').any(|h| h.trim() == needed),
            "{needed} in {headers}"
        );
    }
    let max_age: u32 = header(response, "access-control-max-age")
        .expect("max age")
        .parse()
        .expect("seconds");
    assert!((1..=7200).contains(&max_age), "{max_age}");
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

// ---- the tests ---------------------------------------------------------------------------

async fn a_preflight_from_an_origin_of_a_spa_application_is_answered_with_that_origin(
    backend: Backend,
) {
    let Fixture { app, .. } = fixture(backend).await;
    for origin in [SPA_ORIGIN, LOCAL_SPA_ORIGIN] {
        for path in ["/oauth2/token", "/oauth2/revoke", "/auth/v1/user/signout"] {
            let response = preflight(&app, "acme", path, origin, "POST").await;
            assert_preflight_allows(&response, origin, "POST");
        }
        for method in ["GET", "POST"] {
            let userinfo = preflight(&app, "acme", "/oauth2/userinfo", origin, method).await;
            assert_preflight_allows(&userinfo, origin, method);
        }
    }
    // Each tenant answers the origins of its own spa applications.
    let globex = preflight(&app, "globex", "/oauth2/token", GLOBEX_SPA_ORIGIN, "POST").await;
    assert_preflight_allows(&globex, GLOBEX_SPA_ORIGIN, "POST");
    app.stop().await;
}

async fn a_preflight_from_an_origin_registered_nowhere_or_for_no_spa_of_this_tenant_gets_no_cors_headers(
    backend: Backend,
) {
    let Fixture { app, .. } = fixture(backend).await;
    let refused = [
        ("registered nowhere", "https://evil.example"),
        ("the web application's origin", WEB_ORIGIN),
        ("a spa origin of tenant globex", GLOBEX_SPA_ORIGIN),
        ("http instead of https", "http://spa.example.com"),
        ("another port", "http://localhost:5174"),
        ("a subdomain", "https://app.spa.example.com"),
        ("an opaque origin", "null"),
    ];
    for (why, origin) in refused {
        for path in [
            "/oauth2/token",
            "/oauth2/userinfo",
            "/oauth2/revoke",
            "/auth/v1/user/signout",
        ] {
            let response = preflight(&app, "acme", path, origin, "POST").await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "{why} at {path}");
            assert_no_cors(&response);
            assert!(varies_on_origin(&response), "{why} at {path}");
        }
    }
    // A tenant that does not exist allows nothing.
    let nowhere = preflight(&app, "initech", "/oauth2/token", SPA_ORIGIN, "POST").await;
    assert_no_cors(&nowhere);
    app.stop().await;
}

async fn token_and_userinfo_answers_carry_cors_headers_for_a_spa_origin_and_none_for_others(
    backend: Backend,
) {
    let Fixture { app, spa, .. } = fixture(backend).await;
    let tokens = code_exchange_from(&app, &spa, SPA_ORIGIN).await;
    assert_eq!(tokens.status(), StatusCode::OK);
    assert_readable_by(&tokens, SPA_ORIGIN);
    assert_eq!(header(&tokens, "cache-control"), Some("no-store"));
    let body = json(tokens).await;
    let access_token = body["access_token"].as_str().expect("access token");
    assert!(body["id_token"].is_string(), "{body}");

    let userinfo = userinfo_from(&app, SPA_ORIGIN, access_token).await;
    assert_eq!(userinfo.status(), StatusCode::OK);
    assert_readable_by(&userinfo, SPA_ORIGIN);
    assert_eq!(json(userinfo).await["preferred_username"], "alice");

    // Another origin is answered all the same, but without CORS headers: the browser
    // keeps the answer from that page.
    let elsewhere = code_exchange_from(&app, &spa, "https://evil.example").await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert_no_cors(&elsewhere);
    assert!(varies_on_origin(&elsewhere));
    let userinfo = userinfo_from(&app, WEB_ORIGIN, access_token).await;
    assert_eq!(userinfo.status(), StatusCode::OK);
    assert_no_cors(&userinfo);

    // Signing out in the SPA: revocation answers the registered origin too.
    let revoked = http()
        .post(endpoint(&app, "acme", "/oauth2/revoke"))
        .header("origin", SPA_ORIGIN)
        .form(&[
            ("token", access_token),
            ("client_id", spa.client_id.as_str()),
        ])
        .send()
        .await
        .expect("revocation");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_readable_by(&revoked, SPA_ORIGIN);

    // A server-side client sends no Origin and gets no CORS headers.
    let (code, verifier) = code_for(&app, &spa, "alice").await;
    let plain = http()
        .post(endpoint(&app, "acme", "/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", spa.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("client_id", spa.client_id.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(plain.status(), StatusCode::OK);
    assert_no_cors(&plain);
    app.stop().await;
}

async fn oauth_errors_carry_cors_headers_so_the_spa_can_read_them(backend: Backend) {
    let Fixture { app, spa, .. } = fixture(backend).await;
    let unknown_code: &[(&str, &str)] = &[
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("redirect_uri", SPA_CALLBACK),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
    ];
    let cases = [
        ("an unknown code", unknown_code, "invalid_grant"),
        (
            "a grant the server does not know",
            &[("grant_type", "password")],
            "unsupported_grant_type",
        ),
        ("a missing grant_type", &[], "invalid_request"),
    ];
    for (why, form, error) in cases {
        let response = token_from(&app, &spa, SPA_ORIGIN, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_readable_by(&response, SPA_ORIGIN);
        assert_eq!(json(response).await["error"], error, "{why}");
    }
    let unknown_client = http()
        .post(endpoint(&app, "acme", "/oauth2/token"))
        .header("origin", SPA_ORIGIN)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(unknown_client.status(), StatusCode::UNAUTHORIZED);
    assert_readable_by(&unknown_client, SPA_ORIGIN);
    assert_eq!(json(unknown_client).await["error"], "invalid_client");

    // Userinfo explains a refused token in WWW-Authenticate, which the page may read.
    let refused = userinfo_from(&app, SPA_ORIGIN, "not-a-token").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_readable_by(&refused, SPA_ORIGIN);
    assert!(
        header(&refused, "access-control-expose-headers")
            .is_some_and(|h| h.to_ascii_lowercase().contains("www-authenticate")),
        "{:?}",
        refused.headers()
    );
    assert!(
        header(&refused, "www-authenticate").is_some_and(|c| c.contains("invalid_token")),
        "{:?}",
        refused.headers()
    );
    app.stop().await;
}

async fn an_origin_removed_from_its_application_is_refused_at_once(backend: Backend) {
    let Fixture { app, spa, .. } = fixture(backend).await;
    let name = format!("tenants/acme/applications/{}", spa.client_id);
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name,
                allowed_origins: vec![LOCAL_SPA_ORIGIN.to_owned()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["allowed_origins".into()],
            }),
        })
        .await
        .expect("origins updated");
    let removed = preflight(&app, "acme", "/oauth2/token", SPA_ORIGIN, "POST").await;
    assert_no_cors(&removed);
    let kept = preflight(&app, "acme", "/oauth2/token", LOCAL_SPA_ORIGIN, "POST").await;
    assert_preflight_allows(&kept, LOCAL_SPA_ORIGIN, "POST");
    app.stop().await;
}

async fn discovery_and_jwks_are_readable_from_any_origin(backend: Backend) {
    let Fixture { app, .. } = fixture(backend).await;
    for path in ["/.well-known/openid-configuration", "/oauth2/jwks"] {
        for origin in [Some("https://anyone.example"), Some(SPA_ORIGIN), None] {
            let mut request = http().get(endpoint(&app, "acme", path));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let response = request.send().await.expect("document");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            // The same bytes for everyone: `*`, so that one cached copy serves all.
            assert_eq!(
                header(&response, "access-control-allow-origin"),
                Some("*"),
                "{path} from {origin:?}"
            );
            assert!(!varies_on_origin(&response), "{path}");
            assert!(
                header(&response, "cache-control").is_some_and(|c| c.contains("public")),
                "{path}"
            );
        }
        let asked = preflight(&app, "acme", path, "https://anyone.example", "GET").await;
        assert_eq!(asked.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(header(&asked, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&asked, "access-control-allow-credentials"), None);
    }
    app.stop().await;
}

async fn pages_and_introspection_are_never_cors(backend: Backend) {
    let Fixture { app, spa, web } = fixture(backend).await;
    // Navigations: the authorization request and the sign-in page.
    let authorize = http()
        .get(authorize_url(&app, "acme", &spa, &[]))
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .expect("authorize");
    assert_no_cors(&authorize);
    let login = http()
        .get(endpoint(&app, "acme", "/login"))
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .expect("login page");
    assert_no_cors(&login);

    // Introspection is for servers: no preflight is answered, no answer is shared.
    let asked = preflight(&app, "acme", "/oauth2/introspect", SPA_ORIGIN, "POST").await;
    assert_no_cors(&asked);
    assert_ne!(asked.status(), StatusCode::NO_CONTENT);
    let introspection = http()
        .post(endpoint(&app, "acme", "/oauth2/introspect"))
        .header("origin", SPA_ORIGIN)
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .expect("introspection");
    assert_eq!(introspection.status(), StatusCode::OK);
    assert_no_cors(&introspection);
    app.stop().await;
}
