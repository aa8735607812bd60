//! Operations: Prometheus metrics on their own listener, and a request id on every
//! answer of both listeners.

use keyhaven_tests::{Backend, TestApp, on_both_backends, proto as pb};
use reqwest::StatusCode;
use serde_json::Value;

use crate::oidc_support::{
    Browser, Client, Form, PASSWORD, WEB, acme, authorize_url, client, http, issuer,
};
use crate::refresh_tokens::signed_in;

on_both_backends!(
    a_scrape_counts_requests_by_route_template_and_tenant_and_the_domain_events,
    every_public_and_admin_answer_carries_a_request_id_echoing_a_well_formed_one,
);

/// One sample line of a scrape: its metric name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses Prometheus text (format 0.0.4) strictly enough to catch a malformed line: every
/// sample belongs to a family declared with `# TYPE`, and its value is a number.
fn parse(text: &str) -> Vec<Sample> {
    let mut families = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| families.iter().any(|x| x == f))
            })
            .unwrap_or(name);
        assert!(families.iter().any(|f| f == family), "undeclared: {line}");
        let labels = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once("=\"").expect("label=\"value\"");
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .collect();
        let value = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().expect("a number")
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the sample named `name` whose labels include every one of `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map_or(0.0, |s| s.value)
}

async fn scrape(app: &TestApp) -> String {
    let response = http().get(app.metrics_url()).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text")
}

async fn a_scrape_counts_requests_by_route_template_and_tenant_and_the_domain_events(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;

    // A service's token.
    let service = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/acme".into(),
            application: Some(pb::Application {
                display_name: "Billing worker".into(),
                r#type: pb::ApplicationType::Service as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("service app")
        .into_inner();
    let secret = service.client_secret.clone();
    let client_id = service.application.expect("app").client_id;
    let response = http()
        .post(format!("{}/oauth2/token", issuer(&app, "acme")))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let service_token: Value = response.json().await.expect("json");

    // One wrong password, then a sign-in through the code flow.
    let web = client(&app, "acme", WEB).await;
    let wrong = wrong_password(&app, &web).await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    let tokens = signed_in(&app, &web).await;

    // The refresh token revoked by its client.
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    let response = http()
        .post(format!("{}/oauth2/revoke", issuer(&app, "acme")))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[("token", refresh_token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);

    // An admin call, and a request to a tenant that does not exist.
    app.tenants(app.root())
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect("list tenants");
    let response = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer(&app, "nosuch")
        ))
        .send()
        .await
        .expect("discovery");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    let samples = parse(&text);
    let token_route = [
        ("route", "/t/{tenant}/oauth2/token"),
        ("method", "POST"),
        ("status", "2xx"),
        ("tenant", "acme"),
    ];
    assert!(
        value(&samples, "keyhaven_http_requests_total", &token_route) >= 2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "keyhaven_http_request_duration_seconds_count",
            &token_route[..3]
        ),
        value(&samples, "keyhaven_http_requests_total", &token_route),
        "{text}"
    );
    assert!(
        value(
            &samples,
            "keyhaven_http_requests_total",
            &[
                ("route", "/t/{tenant}/login"),
                ("method", "POST"),
                ("status", "4xx"),
                ("tenant", "acme")
            ]
        ) >= 1.0,
        "{text}"
    );
    // Route templates, never raw paths; an unknown tenant takes no label of its own.
    assert!(!text.contains("/t/acme"), "{text}");
    assert!(!text.contains("nosuch"), "{text}");
    assert_eq!(
        value(
            &samples,
            "keyhaven_http_requests_total",
            &[
                ("route", "/t/{tenant}/.well-known/openid-configuration"),
                ("status", "4xx"),
                ("tenant", "other")
            ]
        ),
        1.0,
        "{text}"
    );

    let by_tenant =
        |name: &str, label: (&str, &str)| value(&samples, name, &[label, ("tenant", "acme")]);
    assert_eq!(
        by_tenant(
            "keyhaven_tokens_issued_total",
            ("grant_type", "client_credentials")
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        by_tenant(
            "keyhaven_tokens_issued_total",
            ("grant_type", "authorization_code")
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        by_tenant("keyhaven_revocations_total", ("reason", "client_request")),
        1.0,
        "{text}"
    );
    assert_eq!(
        by_tenant(
            "keyhaven_sign_in_failures_total",
            ("reason", "wrong_password")
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "keyhaven_grpc_requests_total",
            &[
                ("method", "/keyhaven.admin.v1.TenantService/ListTenants"),
                ("code", "OK")
            ]
        ),
        1.0,
        "{text}"
    );
    assert!(
        value(&samples, "keyhaven_db_pool_max_connections", &[]) >= 1.0,
        "{text}"
    );

    // No token, secret or password, whatever the label.
    let access_token = service_token["access_token"].as_str().expect("token");
    for secret in [access_token, refresh_token, &secret, PASSWORD] {
        assert!(!text.contains(secret), "a secret in the scrape");
    }
    app.stop().await;
}

/// A fresh browser's sign-in with the wrong password: the status of the answer.
async fn wrong_password(app: &TestApp, web: &Client) -> StatusCode {
    let url = authorize_url(
        app,
        "acme",
        web,
        &[
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ],
    );
    let browser = Browser::new(&web.redirect_uri);
    let form = Form::of(browser.open(&url).await).await;
    browser
        .post(
            &form,
            &[("username", "alice"), ("password", "not the password")],
        )
        .await
        .status()
}

async fn every_public_and_admin_answer_carries_a_request_id_echoing_a_well_formed_one(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/healthz", app.public_url);
    let request_id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };

    let plain = http().get(&url).send().await.expect("healthz");
    let generated = request_id(&plain);
    assert!(
        !generated.is_empty() && generated.len() <= 64,
        "{generated}"
    );
    let again = http().get(&url).send().await.expect("healthz");
    assert_ne!(request_id(&again), generated);

    let echoed = http()
        .get(&url)
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .expect("healthz");
    assert_eq!(request_id(&echoed), "trace-42.a_b");
    for malformed in ["has space", &"x".repeat(65), "quote\"d"] {
        let replaced = http()
            .get(&url)
            .header("x-request-id", malformed)
            .send()
            .await
            .expect("healthz");
        let id = request_id(&replaced);
        assert_ne!(id, malformed);
        assert!(id.len() <= 64, "{id}");
    }
    // A route that does not exist answers with one too.
    let missing = http()
        .get(format!("{}/t/nosuch/oauth2/jwks", app.public_url))
        .send()
        .await
        .expect("jwks");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("x-request-id"));

    // gRPC: in the response metadata, for an answer and for a refusal.
    let mut request = tonic::Request::new(pb::ListTenantsRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-7".parse().expect("ascii"));
    let answer = app
        .tenants(app.root())
        .list_tenants(request)
        .await
        .expect("list tenants");
    assert_eq!(answer.metadata().get("x-request-id").expect("id"), "grpc-7");
    let refused = app
        .tenants(None)
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .expect_err("no token");
    assert!(
        refused.metadata().get("x-request-id").is_some(),
        "{refused:?}"
    );
    app.stop().await;
}
