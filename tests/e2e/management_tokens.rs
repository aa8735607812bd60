//! Management tokens: shown once, granted only what their creator holds, reaching only
//! their scope, and stopping at expiry or revocation on the very next call.

use std::time::Duration;

use keyhaven_core::Clock;
use keyhaven_tests::assert::{code, violations};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use tonic::{Code, Status};

on_both_backends!(
    a_created_token_is_shown_once_works_and_is_never_listed,
    permission_lists_with_unknown_duplicate_or_no_entries_are_invalid,
    a_token_can_only_grant_permissions_it_holds_itself,
    a_service_token_creates_only_service_tokens_of_its_own_tenant,
    an_expire_time_that_is_not_in_the_future_is_invalid,
    a_token_stops_working_at_its_expire_time,
    a_revoked_token_is_refused_on_its_very_next_call_and_revoking_again_changes_nothing,
    last_use_time_is_set_on_first_use_and_rewritten_at_most_once_a_minute,
);

async fn a_created_token_is_shown_once_works_and_is_never_listed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let cases = [
        (
            "organizations/default",
            "organizations/default/managementTokens/",
        ),
        ("tenants/acme", "tenants/acme/managementTokens/"),
    ];
    for (parent, name_prefix) in cases {
        let created = create(&app, app.root(), parent, &["tenants.read"], None)
            .await
            .expect("created");
        let token = created.management_token.expect("token resource");
        assert!(created.token.starts_with("khm_"), "{parent}");
        assert!(token.name.starts_with(name_prefix), "{}", token.name);
        assert_eq!(token.permissions, vec!["tenants.read"]);
        assert!(token.create_time.is_some() && token.revoke_time.is_none());

        let tenants = app
            .tenants(Some(&created.token))
            .list_tenants(pb::ListTenantsRequest::default())
            .await
            .expect("the new token works")
            .into_inner();
        assert_eq!(tenants.tenants.len(), 1, "{parent}");

        let listed = list(&app, parent).await;
        assert!(listed.iter().any(|t| t.name == token.name), "{parent}");
        let shown = format!("{listed:?}");
        assert!(
            !shown.contains(&created.token) && !shown.contains(&created.token[4..]),
            "ListManagementTokens must never show a token: {shown}"
        );
    }
    app.stop().await;
}

async fn permission_lists_with_unknown_duplicate_or_no_entries_are_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: &[&[&str]] = &[
        &[],
        &["tenants.admin"],
        &["tenants.read", "applications.*"],
        &["tenants.read", "tenants.read"],
        &["*", "*"],
    ];
    for permissions in cases {
        let status = create(&app, app.root(), "organizations/default", permissions, None)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{permissions:?}");
        assert_eq!(
            violations(&status)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>(),
            vec!["management_token.permissions"],
            "{permissions:?}"
        );
    }
    app.stop().await;
}

async fn a_token_can_only_grant_permissions_it_holds_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let holds = &["applications.read", "management_tokens.write"];
    let (_, service) = app.create_token("tenants/acme", holds, None).await;
    let (_, organization) = app.create_token("organizations/default", holds, None).await;
    let cases: &[(&[&str], Code)] = &[
        (&["applications.read"], Code::Ok),
        (&["applications.read", "management_tokens.write"], Code::Ok),
        (&["applications.write"], Code::PermissionDenied),
        (
            &["applications.read", "applications.write"],
            Code::PermissionDenied,
        ),
        (&["*"], Code::PermissionDenied),
    ];
    let mut mismatches = Vec::new();
    for (who, token, parent) in [
        ("service token", &service, "tenants/acme"),
        ("organization token", &organization, "organizations/default"),
    ] {
        for (permissions, expected) in cases {
            let result = create(&app, Some(token), parent, permissions, None).await;
            let got = code(&result);
            if got != *expected {
                mismatches.push(format!(
                    "{who} granting {permissions:?}: expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    app.stop().await;
}

async fn a_service_token_creates_only_service_tokens_of_its_own_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (_, acme) = app.create_token("tenants/acme", &["*"], None).await;
    let (globex_token, _) = app
        .create_token("tenants/globex", &["tenants.read"], None)
        .await;
    let (org_token, _) = app
        .create_token("organizations/default", &["tenants.read"], None)
        .await;

    for (parent, expected) in [
        ("tenants/acme", Code::Ok),
        ("tenants/globex", Code::PermissionDenied),
        ("organizations/default", Code::PermissionDenied),
    ] {
        let result = create(&app, Some(&acme), parent, &["tenants.read"], None).await;
        let got = code(&result);
        assert_eq!(got, expected, "creating under {parent}");
    }
    for victim in [&globex_token.name, &org_token.name] {
        let status = revoke(&app, Some(&acme), victim)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied, "revoking {victim}");
    }
    let globex_tokens = list(&app, "tenants/globex").await;
    assert!(globex_tokens.iter().all(|t| t.revoke_time.is_none()));
    app.stop().await;
}

async fn an_expire_time_that_is_not_in_the_future_is_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = app.clock.now().unix_millis();
    let cases = [
        ("an hour ago", now - 3_600_000),
        ("a millisecond ago", now - 1),
        ("now", now),
    ];
    for (when, millis) in cases {
        let status = create(
            &app,
            app.root(),
            "organizations/default",
            &["tenants.read"],
            Some(timestamp(millis)),
        )
        .await
        .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{when}");
        assert_eq!(
            violations(&status)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>(),
            vec!["management_token.expire_time"],
            "{when}"
        );
    }
    app.stop().await;
}

async fn a_token_stops_working_at_its_expire_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expire_time = timestamp(app.clock.now().unix_millis() + 60_000);
    let (created, token) = app
        .create_token(
            "organizations/default",
            &["tenants.read"],
            Some(expire_time),
        )
        .await;
    assert_eq!(created.expire_time, Some(expire_time));
    app.clock.advance(Duration::from_secs(59));
    list_tenants(&app, &token)
        .await
        .expect("works before its expire time");

    for step in [Duration::from_secs(1), Duration::from_secs(60)] {
        app.clock.advance(step);
        let status = list_tenants(&app, &token).await.expect_err("expired");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(status.message().contains("expired"), "{}", status.message());
    }
    app.stop().await;
}

async fn a_revoked_token_is_refused_on_its_very_next_call_and_revoking_again_changes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (created, token) = app
        .create_token("organizations/default", &["tenants.read"], None)
        .await;
    list_tenants(&app, &token).await.expect("works");

    revoke(&app, app.root(), &created.name)
        .await
        .expect("revoked");
    let status = list_tenants(&app, &token).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("revoked"), "{}", status.message());
    let revoke_time = listed(&app, "organizations/default", &created.name)
        .await
        .revoke_time;
    assert!(revoke_time.is_some());

    app.clock.advance(Duration::from_secs(10));
    revoke(&app, app.root(), &created.name)
        .await
        .expect("revoking again succeeds");
    let again = listed(&app, "organizations/default", &created.name).await;
    assert_eq!(
        again.revoke_time, revoke_time,
        "the first revocation stands"
    );
    let status = list_tenants(&app, &token).await.expect_err("still refused");
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = revoke(
        &app,
        app.root(),
        "organizations/default/managementTokens/0123456789abcdef",
    )
    .await
    .expect_err("no such token");
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}

async fn last_use_time_is_set_on_first_use_and_rewritten_at_most_once_a_minute(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parent = "organizations/default";
    let (created, token) = app.create_token(parent, &["tenants.read"], None).await;
    assert_eq!(last_use(&app, &created.name).await, None, "never used yet");

    list_tenants(&app, &token).await.expect("works");
    let first = last_use(&app, &created.name).await;
    assert_eq!(first, Some(timestamp(app.clock.now().unix_millis())));

    app.clock.advance(Duration::from_secs(59));
    list_tenants(&app, &token).await.expect("works");
    assert_eq!(
        last_use(&app, &created.name).await,
        first,
        "not rewritten within the minute"
    );

    app.clock.advance(Duration::from_secs(2));
    list_tenants(&app, &token).await.expect("works");
    assert_eq!(
        last_use(&app, &created.name).await,
        Some(timestamp(app.clock.now().unix_millis())),
        "rewritten 61 s after the first use"
    );
    app.stop().await;
}

async fn create(
    app: &TestApp,
    token: Option<&str>,
    parent: &str,
    permissions: &[&str],
    expire_time: Option<prost_types::Timestamp>,
) -> Result<pb::CreateManagementTokenResponse, Status> {
    app.tokens(token)
        .create_management_token(pb::CreateManagementTokenRequest {
            parent: parent.to_owned(),
            management_token: Some(pb::ManagementToken {
                display_name: "test token".to_owned(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                expire_time,
                ..Default::default()
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn revoke(app: &TestApp, token: Option<&str>, name: &str) -> Result<(), Status> {
    app.tokens(token)
        .revoke_management_token(pb::RevokeManagementTokenRequest {
            name: name.to_owned(),
        })
        .await
        .map(drop)
}

/// Every token under `parent`, listed with the root token.
async fn list(app: &TestApp, parent: &str) -> Vec<pb::ManagementToken> {
    app.tokens(app.root())
        .list_management_tokens(pb::ListManagementTokensRequest {
            parent: parent.to_owned(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .management_tokens
}

async fn listed(app: &TestApp, parent: &str, name: &str) -> pb::ManagementToken {
    list(app, parent)
        .await
        .into_iter()
        .find(|t| t.name == name)
        .expect("the token is listed")
}

async fn last_use(app: &TestApp, name: &str) -> Option<prost_types::Timestamp> {
    let parent = name.split("/managementTokens/").next().unwrap_or_default();
    listed(app, parent, name).await.last_use_time
}

async fn list_tenants(app: &TestApp, token: &str) -> Result<(), Status> {
    app.tenants(Some(token))
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .map(drop)
}

fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}
