//! The public runtime caches tenants, clients with their secrets, and signing keys. A
//! change through the control plane is visible at once in the process that made it; on
//! PostgreSQL, other replicas hear of it by LISTEN/NOTIFY within milliseconds; processes
//! on one SQLite file (servers, the CLI) read it from the change log within a second.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;

on_both_backends!(
    changes_through_one_replica_reach_the_other_within_the_staleness_bound,
    changes_are_visible_at_once_in_the_process_that_made_them,
    a_tenant_created_after_its_slug_was_asked_for_is_found_at_once,
    a_tenant_another_process_creates_is_found_within_the_bound,
    redirect_uris_registered_or_deleted_are_honoured_at_once_and_by_other_replicas,
);

/// How long a change may take to reach another process here before the test calls it
/// lost: a PostgreSQL notification, or the SQLite change log read every second.
const STALENESS_BOUND: Duration = Duration::from_secs(3);

struct Service {
    name: String,
    client_id: String,
    secret: String,
}

async fn service(app: &TestApp, tenant: &str) -> Service {
    let (created, secret) = app.create_app(tenant, pb::ApplicationType::Service).await;
    Service {
        name: created.name,
        client_id: created.client_id,
        secret,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The client_credentials answer of `replica`: the status and, on success, the token.
async fn token_at(replica: &TestApp, client_id: &str, secret: &str) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/t/acme/oauth2/token", replica.public_url))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    (response.status(), response.json().await.expect("json"))
}

async fn accepted(replica: &TestApp, client_id: &str, secret: &str) -> bool {
    token_at(replica, client_id, secret).await.0 == StatusCode::OK
}

/// The `kid` in the header of an access token that `replica` issues now.
async fn signing_kid(replica: &TestApp, client: &Service) -> String {
    let (status, body) = token_at(replica, &client.client_id, &client.secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("access token");
    let header = token.split('.').next().expect("JWS header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

async fn jwks_at(replica: &TestApp) -> Value {
    http()
        .get(format!("{}/t/acme/oauth2/jwks", replica.public_url))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json")
}

async fn discovery_status(replica: &TestApp) -> StatusCode {
    http()
        .get(format!(
            "{}/t/acme/.well-known/openid-configuration",
            replica.public_url
        ))
        .send()
        .await
        .expect("discovery")
        .status()
}

async fn rotate_secret(through: &TestApp, client: &Service) -> String {
    through
        .applications(through.root())
        .rotate_client_secret(pb::RotateClientSecretRequest {
            name: client.name.clone(),
            previous_secret_grace: Some(prost_types::Duration {
                seconds: 0,
                nanos: 0,
            }),
        })
        .await
        .expect("rotated")
        .into_inner()
        .client_secret
}

async fn delete_application(through: &TestApp, client: &Service) {
    through
        .applications(through.root())
        .delete_application(pb::DeleteApplicationRequest {
            name: client.name.clone(),
            ..Default::default()
        })
        .await
        .expect("deleted");
}

/// Rotates the keys of the algorithm `kid` belongs to; returns the new active kid.
async fn rotate_keys(through: &TestApp, kid: &str) -> String {
    let keys = |response: tonic::Response<pb::RotateSigningKeyResponse>| {
        response.into_inner().signing_keys
    };
    let mut client = through.signing_keys(through.root());
    let listed = client
        .list_signing_keys(pb::ListSigningKeysRequest {
            parent: "tenants/acme".into(),
        })
        .await
        .expect("listed")
        .into_inner()
        .signing_keys;
    let algorithm = listed
        .iter()
        .find(|k| k.kid == kid)
        .expect("the signing key is listed")
        .algorithm
        .clone();
    let rotated = keys(
        client
            .rotate_signing_key(pb::RotateSigningKeyRequest {
                parent: "tenants/acme".into(),
                algorithm: algorithm.clone(),
            })
            .await
            .expect("rotated"),
    );
    let active: Vec<_> = rotated
        .iter()
        .filter(|k| k.algorithm == algorithm && k.state() == pb::SigningKeyState::Active)
        .collect();
    assert_eq!(active.len(), 1, "{rotated:#?}");
    assert_ne!(active[0].kid, kid, "rotation changed the active key");
    active[0].kid.clone()
}

async fn delete_tenant(through: &TestApp) {
    through
        .tenants(through.root())
        .delete_tenant(pb::DeleteTenantRequest {
            name: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("deleted");
}

/// Waits until `seen` holds (at the other replica), and prints the time it took. The test
/// clock stands still, so no cache entry expires by age meanwhile: only the
/// announcement can make the change seen.
async fn within_bound<F, Fut>(backend: Backend, what: &str, seen: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !seen().await {
        assert!(
            started.elapsed() < STALENESS_BOUND,
            "{what}: not seen within {STALENESS_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("{backend:?}: {what}: seen after {:?}", started.elapsed());
}

async fn changes_through_one_replica_reach_the_other_within_the_staleness_bound(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    a.create_tenant("acme").await;
    let rotated = service(&a, "acme").await;
    let deleted = service(&a, "acme").await;
    let b = a.start_replica().await;
    // Warm A's caches: each check below would pass trivially on a cold cache.
    assert!(accepted(&a, &rotated.client_id, &rotated.secret).await);
    assert!(accepted(&a, &deleted.client_id, &deleted.secret).await);
    let old_kid = signing_kid(&a, &rotated).await;
    assert_eq!(discovery_status(&a).await, StatusCode::OK);

    let new_secret = rotate_secret(&b, &rotated).await;
    within_bound(backend, "a rotated secret", || async {
        !accepted(&a, &rotated.client_id, &rotated.secret).await
    })
    .await;
    assert!(accepted(&a, &rotated.client_id, &new_secret).await);
    let rotated = Service {
        secret: new_secret,
        ..rotated
    };

    delete_application(&b, &deleted).await;
    within_bound(backend, "a deleted application", || async {
        !accepted(&a, &deleted.client_id, &deleted.secret).await
    })
    .await;

    let new_kid = rotate_keys(&b, &old_kid).await;
    within_bound(backend, "a key rotation", || async {
        signing_kid(&a, &rotated).await == new_kid
    })
    .await;
    assert_eq!(
        jwks_at(&a).await,
        jwks_at(&b).await,
        "both publish one JWKS"
    );

    delete_tenant(&b).await;
    within_bound(backend, "a deleted tenant", || async {
        discovery_status(&a).await == StatusCode::NOT_FOUND
    })
    .await;

    b.running.stop().await;
    a.stop().await;
}

async fn changes_are_visible_at_once_in_the_process_that_made_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let client = service(&app, "acme").await;
    let doomed = service(&app, "acme").await;
    assert!(accepted(&app, &client.client_id, &client.secret).await);
    assert!(accepted(&app, &doomed.client_id, &doomed.secret).await);
    let old_kid = signing_kid(&app, &client).await;
    assert_eq!(discovery_status(&app).await, StatusCode::OK);

    let new_secret = rotate_secret(&app, &client).await;
    assert!(!accepted(&app, &client.client_id, &client.secret).await);
    let client = Service {
        secret: new_secret,
        ..client
    };
    assert!(accepted(&app, &client.client_id, &client.secret).await);

    delete_application(&app, &doomed).await;
    assert!(!accepted(&app, &doomed.client_id, &doomed.secret).await);

    let new_kid = rotate_keys(&app, &old_kid).await;
    assert_eq!(signing_kid(&app, &client).await, new_kid);
    let published = jwks_at(&app).await;
    assert!(
        published["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == old_kid.as_str()),
        "the retired key stays published: {published}"
    );

    delete_tenant(&app).await;
    assert_eq!(discovery_status(&app).await, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn a_tenant_created_after_its_slug_was_asked_for_is_found_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(discovery_status(&app).await, StatusCode::NOT_FOUND);
    app.create_tenant("acme").await;
    assert_eq!(discovery_status(&app).await, StatusCode::OK);
    app.stop().await;
}

/// The slug was asked for (and remembered as unknown) before another process created it.
async fn a_tenant_another_process_creates_is_found_within_the_bound(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = a.start_replica().await;
    assert_eq!(discovery_status(&a).await, StatusCode::NOT_FOUND);
    b.create_tenant("acme").await;
    within_bound(backend, "a tenant created elsewhere", || async {
        discovery_status(&a).await == StatusCode::OK
    })
    .await;
    b.running.stop().await;
    a.stop().await;
}

/// A replica whose LISTEN connection is cut clears its caches and listens again, so a
/// change made around the cut is not served stale for the cache's lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_notification_connection_serves_nothing_stale() {
    if !Backend::Postgres.available() {
        eprintln!("PostgreSQL unset: not run");
        return;
    }
    let a = TestApp::spawn(Backend::Postgres).await;
    a.create_tenant("acme").await;
    let rotated = service(&a, "acme").await;
    let b = a.start_replica().await;
    assert!(accepted(&a, &rotated.client_id, &rotated.secret).await);

    let db = sea_orm::Database::connect(a.database.url.as_str())
        .await
        .expect("connect");
    let cut = db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
        )
        .await
        .expect("terminate the listeners");
    assert!(cut.rows_affected() >= 2, "both replicas were listening");
    let new_secret = rotate_secret(&b, &rotated).await;

    within_bound(
        Backend::Postgres,
        "a secret rotated around the cut",
        || async { !accepted(&a, &rotated.client_id, &rotated.secret).await },
    )
    .await;
    assert!(accepted(&a, &rotated.client_id, &new_secret).await);
    // Listening again: the next change arrives by notification.
    let rotated = Service {
        secret: new_secret,
        ..rotated
    };
    rotate_secret(&b, &rotated).await;
    within_bound(
        Backend::Postgres,
        "a secret rotated after the reconnection",
        || async { !accepted(&a, &rotated.client_id, &rotated.secret).await },
    )
    .await;
    b.running.stop().await;
    a.stop().await;
}

/// Whether `replica`'s authorization endpoint trusts `redirect_uri` for `client_id`: an
/// untrusted one gets an error page (400), a trusted one a redirect to the sign-in page.
async fn trusts_redirect_uri(replica: &TestApp, client_id: &str, redirect_uri: &str) -> bool {
    let response = http()
        .get(format!("{}/t/acme/oauth2/authorize", replica.public_url))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid"),
            ("state", "s"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorization request");
    match response.status() {
        StatusCode::BAD_REQUEST => false,
        status if status.is_redirection() => true,
        other => panic!("authorization request answered {other}"),
    }
}

async fn register_uri(through: &TestApp, parent: &str, uri: &str) -> String {
    crate::redirect_uris::add_uri(
        through,
        parent,
        uri,
        pb::RedirectUriPurpose::Callback,
        pb::Environment::Production,
    )
    .await
    .expect("registered")
    .name
}

/// The public runtime keeps an application's redirect URIs with the application, so a
/// registration or deletion must reach it like any other change of the application.
async fn redirect_uris_registered_or_deleted_are_honoured_at_once_and_by_other_replicas(
    backend: Backend,
) {
    let a = TestApp::spawn(backend).await;
    a.create_tenant("acme").await;
    let (web, _) = a.create_app("acme", pb::ApplicationType::Web).await;
    let (first, second, third) = (
        "https://rp.example/first",
        "https://rp.example/second",
        "https://rp.example/third",
    );
    let first_name = register_uri(&a, &web.name, first).await;
    let b = a.start_replica().await;
    // Warm A's cache with the application as it is now.
    assert!(trusts_redirect_uri(&a, &web.client_id, first).await);
    assert!(!trusts_redirect_uri(&a, &web.client_id, second).await);

    register_uri(&a, &web.name, second).await;
    assert!(
        trusts_redirect_uri(&a, &web.client_id, second).await,
        "registered in this process: trusted at once"
    );

    register_uri(&b, &web.name, third).await;
    within_bound(backend, "a redirect URI registered elsewhere", || async {
        trusts_redirect_uri(&a, &web.client_id, third).await
    })
    .await;

    b.applications(b.root())
        .delete_redirect_uri(pb::DeleteRedirectUriRequest { name: first_name })
        .await
        .expect("deleted");
    within_bound(backend, "a redirect URI deleted elsewhere", || async {
        !trusts_redirect_uri(&a, &web.client_id, first).await
    })
    .await;
    assert!(trusts_redirect_uri(&a, &web.client_id, second).await);

    b.running.stop().await;
    a.stop().await;
}
