//! Two replicas on one database, as a deployment runs them: what one revokes, the other
//! refuses on the very next request. Revocations, rotations and session ends are rows in
//! the shared database that every check reads; nothing about them is cached, so the
//! bound is zero.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::oidc_support::{
    Client, WEB, acme, assert_invalid_grant, claims_of, client, code_for, http,
};

on_both_backends!(what_one_replica_revokes_the_other_refuses_on_the_next_request);

/// The issuer of `acme` as served by `replica`.
fn issuer_at(replica: &TestApp) -> String {
    format!("{}/t/acme", replica.public_url)
}

async fn exchange_at(replica: &TestApp, web: &Client, code: &str, verifier: &str) -> Value {
    post_token(
        replica,
        web,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &web.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await
    .1
}

async fn post_token(replica: &TestApp, web: &Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/oauth2/token", issuer_at(replica)))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(form)
        .send()
        .await
        .expect("token request");
    (response.status(), response.json().await.expect("json"))
}

async fn active_at(replica: &TestApp, web: &Client, token: &Value) -> bool {
    let response = http()
        .post(format!("{}/oauth2/introspect", issuer_at(replica)))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[("token", token.as_str().expect("token"))])
        .send()
        .await
        .expect("introspection");
    let body: Value = response.json().await.expect("json");
    body["active"] == json!(true)
}

async fn userinfo_at(replica: &TestApp, token: &Value) -> StatusCode {
    http()
        .get(format!("{}/oauth2/userinfo", issuer_at(replica)))
        .bearer_auth(token.as_str().expect("token"))
        .send()
        .await
        .expect("userinfo")
        .status()
}

async fn refresh_at(replica: &TestApp, web: &Client, token: &Value) -> (StatusCode, Value) {
    post_token(
        replica,
        web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str().expect("refresh token")),
        ],
    )
    .await
}

async fn what_one_replica_revokes_the_other_refuses_on_the_next_request(backend: Backend) {
    let (a, alice) = acme(backend).await;
    let web = client(&a, "acme", WEB).await;
    let b = a.start_replica().await;

    // Signed in through A, the tokens work at B.
    let (code, verifier) = code_for(&a, &web, "alice").await;
    let tokens = exchange_at(&a, &web, &code, &verifier).await;
    assert!(active_at(&b, &web, &tokens["access_token"]).await);
    assert_eq!(
        userinfo_at(&b, &tokens["access_token"]).await,
        StatusCode::OK
    );

    // A revocation (RFC 7009) at B: A refuses the token on its next request.
    let revoked = http()
        .post(format!("{}/oauth2/revoke", issuer_at(&b)))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[("token", tokens["access_token"].as_str().expect("at"))])
        .send()
        .await
        .expect("revocation");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(!active_at(&a, &web, &tokens["access_token"]).await);
    assert_eq!(
        userinfo_at(&a, &tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );

    // A rotation at A, then the old token replayed at B (past the retry window): the
    // family is revoked for both.
    let (status, rotated) = refresh_at(&a, &web, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    a.clock.advance(std::time::Duration::from_secs(31));
    assert_invalid_grant(&refresh_at(&b, &web, &tokens["refresh_token"]).await);
    assert_invalid_grant(&refresh_at(&a, &web, &rotated["refresh_token"]).await);
    assert!(!active_at(&a, &web, &rotated["access_token"]).await);

    // A code redeemed at A and replayed at B: A's tokens are refused.
    let (code, verifier) = code_for(&a, &web, "alice").await;
    let first = exchange_at(&a, &web, &code, &verifier).await;
    let replay = exchange_at(&b, &web, &code, &verifier).await;
    assert_eq!(replay["error"], "invalid_grant", "{replay}");
    assert!(!active_at(&a, &web, &first["access_token"]).await);

    // The sign-out API at B: A refuses the session's tokens on its next request.
    let (code, verifier) = code_for(&a, &web, "alice").await;
    let signed_in = exchange_at(&a, &web, &code, &verifier).await;
    let signed_out = http()
        .post(format!("{}/auth/v1/user/signout", issuer_at(&b)))
        .bearer_auth(signed_in["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("sign-out");
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert!(!active_at(&a, &web, &signed_in["access_token"]).await);
    assert_invalid_grant(&refresh_at(&a, &web, &signed_in["refresh_token"]).await);

    // A session revoked through B's control plane.
    let (code, verifier) = code_for(&a, &web, "alice").await;
    let in_session = exchange_at(&a, &web, &code, &verifier).await;
    let sid = claims_of(in_session["id_token"].as_str().expect("id token"))["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    b.sessions(b.root())
        .revoke_session(pb::RevokeSessionRequest {
            name: format!("tenants/acme/sessions/{sid}"),
        })
        .await
        .expect("revoked at B");
    assert!(!active_at(&a, &web, &in_session["access_token"]).await);
    assert_eq!(
        userinfo_at(&a, &in_session["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_grant(&refresh_at(&a, &web, &in_session["refresh_token"]).await);

    // The user disabled through B's control plane: every session ends, and A refuses
    // the tokens issued in them on its next request.
    let (code, verifier) = code_for(&a, &web, "alice").await;
    let last = exchange_at(&a, &web, &code, &verifier).await;
    assert!(active_at(&a, &web, &last["access_token"]).await);
    b.users(b.root())
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: alice.name.clone(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("disabled at B");
    assert!(!active_at(&a, &web, &last["access_token"]).await);
    assert_eq!(
        userinfo_at(&a, &last["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_grant(&refresh_at(&a, &web, &last["refresh_token"]).await);

    b.stop_keeping_data().await;
    a.stop().await;
}

/// The first rollout of a deployment: two replicas start at the same moment on an empty
/// PostgreSQL database. One migrates while the other waits (an advisory lock), one
/// bootstraps the organization, and both serve. Several processes on one SQLite file is
/// not a supported deployment, so this runs on PostgreSQL only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_together_on_an_empty_database_migrate_and_bootstrap_once() {
    if !Backend::Postgres.available() {
        eprintln!("PostgreSQL unset: not run");
        return;
    }
    let (a, b) = TestApp::start_together(Backend::Postgres).await;
    for replica in [&a, &b] {
        let ready = http()
            .get(format!("{}/readyz", replica.public_url))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), StatusCode::OK);
    }
    let organizations = a
        .organizations(a.root())
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .expect("organizations")
        .into_inner()
        .organizations;
    assert_eq!(
        organizations.len(),
        1,
        "bootstrapped once: {organizations:?}"
    );
    // Each serves what the other creates.
    b.create_tenant("acme").await;
    let discovery = http()
        .get(format!(
            "{}/t/acme/.well-known/openid-configuration",
            a.public_url
        ))
        .send()
        .await
        .expect("discovery");
    assert_eq!(discovery.status(), StatusCode::OK);
    b.stop_keeping_data().await;
    a.stop().await;
}

/// The server keeps its PostgreSQL connections between statements rather than handing
/// each back to the pool (which pinged it every time). When the database drops them (a
/// restart, a failover, a proxy's idle timeout), none stays in use broken: one idle for a
/// second is tested before its next statement, one that fails is given back to the pool,
/// so a second after the cut every request succeeds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_dropped_are_replaced_before_they_are_used() {
    if !Backend::Postgres.available() {
        eprintln!("PostgreSQL unset: not run");
        return;
    }
    let a = TestApp::spawn(Backend::Postgres).await;
    a.create_tenant("acme").await;
    for _ in 0..4 {
        assert_eq!(served(&a).await, (StatusCode::OK, Ok(1)));
    }

    let admin = sea_orm::Database::connect(a.database.url.as_str())
        .await
        .expect("connect");
    let cut = admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND query NOT LIKE 'LISTEN %'",
        )
        .await
        .expect("terminate the server's connections");
    assert!(cut.rows_affected() >= 1, "the server had connections open");
    admin.close().await.ok();

    // Idle past the ping threshold: every kept connection is tested before its next use.
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    for _ in 0..8 {
        assert_eq!(served(&a).await, (StatusCode::OK, Ok(1)));
    }
    a.stop().await;
}

/// `/readyz` and a control-plane listing: both read the database on every request.
async fn served(a: &TestApp) -> (StatusCode, Result<usize, tonic::Code>) {
    let ready = http()
        .get(format!("{}/readyz", a.public_url))
        .send()
        .await
        .expect("readyz")
        .status();
    let tenants = a
        .tenants(a.root())
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .map(|t| t.into_inner().tenants.len())
        .map_err(|s| s.code());
    (ready, tenants)
}
