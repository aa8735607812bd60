//! The public runtime for machine clients: discovery, JWKS, the client_credentials grant
//! with each client authentication method, and introspection, over plain HTTP.

use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use serde_json::Value;

on_both_backends!(
    discovery_describes_the_tenant_issuer_and_its_endpoints,
    jwks_publishes_public_keys_only,
    a_service_gets_a_signed_rfc_9068_access_token_with_basic_or_post_authentication,
    failed_client_authentication_is_invalid_client_with_a_basic_challenge_only_for_basic,
    only_confidential_clients_allowed_the_grant_get_tokens_for_allowed_scopes,
    malformed_token_requests_are_invalid_requests,
    a_client_is_unknown_at_another_tenants_endpoints_and_its_tokens_inactive_there,
    introspection_reports_active_tokens_until_they_expire,
    a_rotated_secret_keeps_working_for_its_grace_period_only,
    issuing_client_credentials_tokens_writes_nothing_to_the_database,
);

struct Service {
    client_id: String,
    secret: String,
}

async fn service(app: &TestApp, tenant: &str, scopes: &[&str]) -> Service {
    let response = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: format!("tenants/{tenant}"),
            application: Some(pb::Application {
                display_name: "Billing worker".into(),
                r#type: pb::ApplicationType::Service as i32,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("service app")
        .into_inner();
    Service {
        client_id: response.application.expect("app").client_id,
        secret: response.client_secret,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn issuer(app: &TestApp, tenant: &str) -> String {
    format!("{}/t/{tenant}", app.public_url)
}

async fn token(
    app: &TestApp,
    tenant: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = http()
        .post(format!("{}/oauth2/token", issuer(app, tenant)))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("token request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.expect("json body");
    (status, headers, body)
}

async fn introspect(
    app: &TestApp,
    tenant: &str,
    caller: &Service,
    token: &str,
) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/oauth2/introspect", issuer(app, tenant)))
        .basic_auth(&caller.client_id, Some(&caller.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection request");
    (response.status(), response.json().await.expect("json"))
}

fn assert_error(
    result: &(StatusCode, reqwest::header::HeaderMap, Value),
    status: StatusCode,
    error: &str,
) {
    let (got, headers, body) = result;
    assert_eq!(
        (*got, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

async fn discovery_describes_the_tenant_issuer_and_its_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let iss = issuer(&app, "acme");
    let response = http()
        .get(format!("{iss}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery");
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("json");
    assert_eq!(doc["issuer"], iss.as_str());
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        assert!(
            doc[endpoint].as_str().is_some_and(|e| e.starts_with(&iss)),
            "{endpoint}: {doc}"
        );
    }
    let algs: Vec<&str> = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .expect("algs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(algs.contains(&"RS256"), "OIDC requires RS256: {algs:?}");
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    // Stated explicitly: a client reads a missing field as the spec's default.
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query"])
    );
    for listed in [
        "scopes_supported",
        "claims_supported",
        "subject_types_supported",
    ] {
        assert!(
            doc[listed].as_array().is_some_and(|l| !l.is_empty()),
            "{listed}: {doc}"
        );
    }
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);

    let missing = http()
        .get(format!(
            "{}/t/nope/.well-known/openid-configuration",
            app.public_url
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn jwks_publishes_public_keys_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let response = http()
        .get(format!("{}/oauth2/jwks", issuer(&app, "acme")))
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("max-age"))
    );
    let jwks: Value = response.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    let algs: Vec<&str> = keys.iter().filter_map(|k| k["alg"].as_str()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} missing from {algs:?}");
    }
    for key in keys {
        assert!(key["kid"].is_string() && key["kty"].is_string(), "{key}");
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published: {key}"
            );
        }
    }
    app.stop().await;
}

async fn a_service_gets_a_signed_rfc_9068_access_token_with_basic_or_post_authentication(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &["orders.read", "orders.write"]).await;
    let basic = token(
        &app,
        "acme",
        &[("grant_type", "client_credentials")],
        Some((&svc.client_id, &svc.secret)),
    )
    .await;
    let post = token(
        &app,
        "acme",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &svc.client_id),
            ("client_secret", &svc.secret),
            ("scope", "orders.read"),
        ],
        None,
    )
    .await;
    for (status, headers, body) in [&basic, &post] {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(
            headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
    }
    assert_eq!(basic.2["scope"], "orders.read orders.write");
    assert_eq!(post.2["scope"], "orders.read");

    // Verified independently: the JWK Set and a JOSE library, as a resource server would.
    let jwt = basic.2["access_token"].as_str().expect("token");
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(format!("{}/oauth2/jwks", issuer(&app, "acme")))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("signing key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[issuer(&app, "acme")]);
    validation.set_audience(&[issuer(&app, "acme")]);
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("valid")
    .claims;
    assert_eq!(claims["client_id"], svc.client_id.as_str());
    assert_eq!(claims["sub"], svc.client_id.as_str());
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        600
    );
    app.stop().await;
}

async fn failed_client_authentication_is_invalid_client_with_a_basic_challenge_only_for_basic(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &[]).await;
    let other = service(&app, "acme", &[]).await;
    let grant = [("grant_type", "client_credentials")];
    let cases = [
        token(&app, "acme", &grant, Some((&svc.client_id, &other.secret))).await,
        token(
            &app,
            "acme",
            &grant,
            Some((&svc.client_id, "khs_not-a-real-secret")),
        )
        .await,
        token(&app, "acme", &grant, Some(("unknown-client", &svc.secret))).await,
    ];
    for case in &cases {
        assert_error(case, StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(
            case.1
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Basic")),
            "{:?}",
            case.1
        );
    }
    let post = token(
        &app,
        "acme",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &svc.client_id),
            ("client_secret", &other.secret),
        ],
        None,
    )
    .await;
    assert_error(&post, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(post.1.get("www-authenticate").is_none());
    let none = token(&app, "acme", &grant, None).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "invalid_client");
    let both = token(
        &app,
        "acme",
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &svc.secret),
        ],
        Some((&svc.client_id, &svc.secret)),
    )
    .await;
    assert_error(&both, StatusCode::BAD_REQUEST, "invalid_request");
    app.stop().await;
}

async fn only_confidential_clients_allowed_the_grant_get_tokens_for_allowed_scopes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &["orders.read"]).await;
    let (native, _) = app.create_app("acme", pb::ApplicationType::Native).await;
    let (web, web_secret) = app.create_app("acme", pb::ApplicationType::Web).await;

    let public = token(
        &app,
        "acme",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &native.client_id),
        ],
        None,
    )
    .await;
    assert_error(&public, StatusCode::BAD_REQUEST, "unauthorized_client");
    let not_allowed = token(
        &app,
        "acme",
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, &web_secret)),
    )
    .await;
    assert_error(&not_allowed, StatusCode::BAD_REQUEST, "unauthorized_client");
    let scope = token(
        &app,
        "acme",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders.read admin"),
        ],
        Some((&svc.client_id, &svc.secret)),
    )
    .await;
    assert_error(&scope, StatusCode::BAD_REQUEST, "invalid_scope");
    app.stop().await;
}

async fn malformed_token_requests_are_invalid_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &[]).await;
    let creds = Some((svc.client_id.as_str(), svc.secret.as_str()));
    assert_error(
        &token(&app, "acme", &[], creds).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &token(
            &app,
            "acme",
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            creds,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        &token(&app, "acme", &[("grant_type", "password")], creds).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
    let json = http()
        .post(format!("{}/oauth2/token", issuer(&app, "acme")))
        .basic_auth(&svc.client_id, Some(&svc.secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("request");
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    app.stop().await;
}

async fn a_client_is_unknown_at_another_tenants_endpoints_and_its_tokens_inactive_there(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let acme = service(&app, "acme", &[]).await;
    let globex = service(&app, "globex", &[]).await;
    let elsewhere = token(
        &app,
        "globex",
        &[("grant_type", "client_credentials")],
        Some((&acme.client_id, &acme.secret)),
    )
    .await;
    assert_error(&elsewhere, StatusCode::UNAUTHORIZED, "invalid_client");

    let (_, _, body) = token(
        &app,
        "acme",
        &[("grant_type", "client_credentials")],
        Some((&acme.client_id, &acme.secret)),
    )
    .await;
    let jwt = body["access_token"].as_str().expect("token");
    assert_eq!(introspect(&app, "acme", &acme, jwt).await.1["active"], true);
    let (status, there) = introspect(&app, "globex", &globex, jwt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(there, serde_json::json!({"active": false}));
    app.stop().await;
}

async fn introspection_reports_active_tokens_until_they_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &["orders.read"]).await;
    let resource_server = service(&app, "acme", &[]).await;
    let (_, _, body) = token(
        &app,
        "acme",
        &[("grant_type", "client_credentials")],
        Some((&svc.client_id, &svc.secret)),
    )
    .await;
    let jwt = body["access_token"].as_str().expect("token");

    let (status, active) = introspect(&app, "acme", &resource_server, jwt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], svc.client_id.as_str());
    assert_eq!(active["scope"], "orders.read");
    assert_eq!(active["iss"], issuer(&app, "acme").as_str());

    for garbage in ["not-a-jwt", "a.b.c", &jwt.replace('.', "x")] {
        assert_eq!(
            introspect(&app, "acme", &resource_server, garbage).await.1,
            serde_json::json!({"active": false})
        );
    }
    let unauthenticated = http()
        .post(format!("{}/oauth2/introspect", issuer(&app, "acme")))
        .form(&[("token", jwt)])
        .send()
        .await
        .expect("request");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    app.clock.advance(Duration::from_secs(601));
    assert_eq!(
        introspect(&app, "acme", &resource_server, jwt).await.1,
        serde_json::json!({"active": false})
    );
    app.stop().await;
}

async fn a_rotated_secret_keeps_working_for_its_grace_period_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &[]).await;
    let rotated = app
        .applications(app.root())
        .rotate_client_secret(pb::RotateClientSecretRequest {
            name: format!("tenants/acme/applications/{}", svc.client_id),
            previous_secret_grace: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
        })
        .await
        .expect("rotated")
        .into_inner();
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(
        token(&app, "acme", &grant, Some((&svc.client_id, &svc.secret)))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        token(
            &app,
            "acme",
            &grant,
            Some((&svc.client_id, &rotated.client_secret))
        )
        .await
        .0,
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(3601));
    assert_error(
        &token(&app, "acme", &grant, Some((&svc.client_id, &svc.secret))).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    assert_eq!(
        token(
            &app,
            "acme",
            &grant,
            Some((&svc.client_id, &rotated.client_secret))
        )
        .await
        .0,
        StatusCode::OK
    );
    app.stop().await;
}

async fn issuing_client_credentials_tokens_writes_nothing_to_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let svc = service(&app, "acme", &[]).await;
    let before = keyhaven_tests::row_counts(&app).await;
    for _ in 0..5 {
        let (status, _, body) = token(
            &app,
            "acme",
            &[("grant_type", "client_credentials")],
            Some((&svc.client_id, &svc.secret)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(keyhaven_tests::row_counts(&app).await, before);
    app.stop().await;
}
