//! `SessionService` and the tenant's session lifetimes (design.md §3, §4.5, §5): listing
//! and reading sessions, revoking one and `NativeSsoLogout`, each proven on the public
//! endpoints: the session's refresh tokens fail with `invalid_grant`, its access tokens
//! introspect inactive and fail at userinfo, and `prompt=none` asks for login again.

use std::time::Duration;

use keyhaven_tests::assert::{refused, violation};
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use serde_json::Value;
use tonic::Code;

use crate::oidc_support::{
    Browser, Client, WEB, WEB_CALLBACK, acme, assert_invalid_grant, authorize_url, claims_of,
    client, exchange, param, redirect_params, user,
};
use crate::refresh_tokens::{introspect, refresh, userinfo_status};

on_both_backends!(
    sessions_are_listed_by_user_and_by_application_and_read_by_name,
    revoking_a_session_ends_its_tokens_and_the_browser_must_sign_in_again,
    session_lifetimes_are_tenant_settings_checked_against_their_bounds,
    an_idle_session_ends_unless_an_authorization_uses_it_in_time,
    a_session_ends_at_its_absolute_end_however_much_it_is_used,
    native_sso_logout_counts_what_it_deleted_and_the_tokens_stop_working,
    native_sso_logout_is_refused_to_tokens_that_do_not_reach_the_tenant,
);

const MINUTE: Duration = Duration::from_secs(60);

/// One browser's sign-in: the token response and the session it belongs to.
struct SignedIn {
    tokens: Value,
    sid: String,
}

/// `client`'s code flow in `browser`: signing in as `username` when the browser has no
/// session, or silently from its session when `username` is `None`.
async fn authorize(
    app: &TestApp,
    browser: &Browser,
    client: &Client,
    username: Option<&str>,
) -> SignedIn {
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
    let response = match username {
        Some(username) => browser.authorize(&url, username).await,
        None => browser.open(&url).await,
    };
    let params = redirect_params(&response);
    let code = param(&params, "code").expect("a code");
    let (status, tokens) = exchange(app, client, code, verifier.secret()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let sid = claims_of(tokens["id_token"].as_str().expect("id token"))["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    SignedIn { tokens, sid }
}

/// What `prompt=none` from `browser` answers: `Ok(())` for a code, the error otherwise.
async fn prompt_none(app: &TestApp, browser: &Browser, client: &Client) -> Result<(), String> {
    let url = authorize_url(
        app,
        "acme",
        client,
        &[
            ("prompt", "none"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ],
    );
    let params = redirect_params(&browser.open(&url).await);
    match (param(&params, "code"), param(&params, "error")) {
        (Some(_), _) => Ok(()),
        (None, error) => Err(error.unwrap_or("no error").to_owned()),
    }
}

fn session_name(sid: &str) -> String {
    format!("tenants/acme/sessions/{sid}")
}

fn app_name(client: &Client) -> String {
    format!("tenants/acme/applications/{}", client.client_id)
}

async fn list(app: &TestApp, filter: pb::ListSessionsRequest) -> Vec<pb::Session> {
    app.sessions(app.root())
        .list_sessions(pb::ListSessionsRequest {
            parent: "tenants/acme".into(),
            ..filter
        })
        .await
        .expect("list sessions")
        .into_inner()
        .sessions
}

fn names(sessions: &[pb::Session]) -> Vec<String> {
    let mut names: Vec<String> = sessions.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Every token of `signed_in` is dead: refresh, introspection and userinfo say so.
async fn assert_tokens_dead(app: &TestApp, client: &Client, signed_in: &SignedIn) {
    assert_invalid_grant(&refresh(app, client, &signed_in.tokens["refresh_token"]).await);
    assert_eq!(
        introspect(app, client, &signed_in.tokens["access_token"]).await["active"],
        false
    );
    assert_eq!(
        userinfo_status(app, &signed_in.tokens["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn assert_tokens_alive(app: &TestApp, client: &Client, signed_in: &SignedIn) {
    assert_eq!(
        introspect(app, client, &signed_in.tokens["access_token"]).await["active"],
        true
    );
    assert_eq!(
        userinfo_status(app, &signed_in.tokens["access_token"]).await,
        StatusCode::OK
    );
    let (status, body) = refresh(app, client, &signed_in.tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `acme` with alice signed in to two applications in one browser and bob to the first
/// in another.
struct Fixture {
    app: TestApp,
    alice: pb::User,
    bob: pb::User,
    first: Client,
    second: Client,
    alice_browser: Browser,
    bob_browser: Browser,
    alice_first: SignedIn,
    alice_second: SignedIn,
    bob_first: SignedIn,
}

async fn fixture(backend: Backend) -> Fixture {
    let (app, alice) = acme(backend).await;
    let bob = user(&app, "acme", "bob").await;
    let first = client(&app, "acme", WEB).await;
    let second = client(&app, "acme", WEB).await;
    let alice_browser = Browser::new(WEB_CALLBACK);
    let bob_browser = Browser::new(WEB_CALLBACK);
    let alice_first = authorize(&app, &alice_browser, &first, Some("alice")).await;
    let alice_second = authorize(&app, &alice_browser, &second, None).await;
    assert_eq!(alice_first.sid, alice_second.sid, "single sign-on");
    let bob_first = authorize(&app, &bob_browser, &first, Some("bob")).await;
    assert_ne!(alice_first.sid, bob_first.sid);
    Fixture {
        app,
        alice,
        bob,
        first,
        second,
        alice_browser,
        bob_browser,
        alice_first,
        alice_second,
        bob_first,
    }
}

async fn sessions_are_listed_by_user_and_by_application_and_read_by_name(backend: Backend) {
    let f = fixture(backend).await;
    let app = &f.app;
    let alices = session_name(&f.alice_first.sid);
    let bobs = session_name(&f.bob_first.sid);

    let all = list(app, pb::ListSessionsRequest::default()).await;
    assert_eq!(names(&all), sorted(vec![alices.clone(), bobs.clone()]));

    let of_alice = list(
        app,
        pb::ListSessionsRequest {
            user: f.alice.name.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&of_alice), vec![alices.clone()]);
    let session = &of_alice[0];
    assert_eq!(session.user, f.alice.name);
    assert_eq!(
        session.applications,
        vec![app_name(&f.first), app_name(&f.second)],
        "in the order they first got tokens"
    );
    assert_eq!(session.amr, vec!["pwd".to_owned()]);
    assert!(session.end_time.is_none());
    let claims = claims_of(f.alice_first.tokens["id_token"].as_str().expect("id token"));
    assert_eq!(
        session.auth_time.as_ref().map(|t| t.seconds),
        claims["auth_time"].as_i64()
    );
    let expire = session.expire_time.as_ref().map(|t| t.seconds);
    let idle = session.idle_expire_time.as_ref().map(|t| t.seconds);
    assert!(idle.is_some() && idle <= expire, "{idle:?} {expire:?}");

    let of_bob = list(
        app,
        pb::ListSessionsRequest {
            user: f.bob.name.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&of_bob), vec![bobs.clone()]);
    assert_eq!(of_bob[0].applications, vec![app_name(&f.first)]);

    let using_first = list(
        app,
        pb::ListSessionsRequest {
            application: app_name(&f.first),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&using_first), sorted(vec![alices.clone(), bobs]));
    let using_second = list(
        app,
        pb::ListSessionsRequest {
            application: app_name(&f.second),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&using_second), vec![alices.clone()]);

    let got = app
        .sessions(app.root())
        .get_session(pb::GetSessionRequest {
            name: alices.clone(),
        })
        .await
        .expect("get session")
        .into_inner();
    assert_eq!(&got, session);

    let paged = app
        .sessions(app.root())
        .list_sessions(pb::ListSessionsRequest {
            parent: "tenants/acme".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(paged.sessions.len(), 1);
    let rest = app
        .sessions(app.root())
        .list_sessions(pb::ListSessionsRequest {
            parent: "tenants/acme".into(),
            page_size: 1,
            page_token: paged.next_page_token,
            ..Default::default()
        })
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(
        sorted(vec![
            paged.sessions[0].name.clone(),
            rest.sessions[0].name.clone()
        ]),
        names(&all)
    );

    let mut sessions = app.sessions(app.root());
    refused(
        sessions
            .get_session(pb::GetSessionRequest {
                name: session_name("nosuchsession"),
            })
            .await,
        Code::NotFound,
    );
    violation(
        sessions
            .get_session(pb::GetSessionRequest {
                name: "tenants/acme/sessions/".into(),
            })
            .await,
        "name",
        "tenants/{tenant}/sessions/{sid}",
    );
    app.create_tenant("globex").await;
    violation(
        sessions
            .list_sessions(pb::ListSessionsRequest {
                parent: "tenants/globex".into(),
                user: f.alice.name.clone(),
                ..Default::default()
            })
            .await,
        "user",
        "tenants/globex",
    );
    let elsewhere = sessions
        .list_sessions(pb::ListSessionsRequest {
            parent: "tenants/globex".into(),
            ..Default::default()
        })
        .await
        .expect("another tenant's sessions")
        .into_inner();
    assert!(
        elsewhere.sessions.is_empty(),
        "sessions stay in their tenant"
    );
    f.app.stop().await;
}

async fn revoking_a_session_ends_its_tokens_and_the_browser_must_sign_in_again(backend: Backend) {
    let f = fixture(backend).await;
    let app = &f.app;
    let alices = session_name(&f.alice_first.sid);
    app.clock.advance(Duration::from_secs(5));

    let revoked = app
        .sessions(app.root())
        .revoke_session(pb::RevokeSessionRequest {
            name: alices.clone(),
        })
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.name, alices);
    assert!(revoked.end_time.is_some(), "{revoked:?}");

    assert_tokens_dead(app, &f.first, &f.alice_first).await;
    assert_tokens_dead(app, &f.second, &f.alice_second).await;
    assert_eq!(
        prompt_none(app, &f.alice_browser, &f.first).await,
        Err("login_required".into())
    );
    assert_tokens_alive(app, &f.first, &f.bob_first).await;
    assert_eq!(prompt_none(app, &f.bob_browser, &f.first).await, Ok(()));

    let live = list(app, pb::ListSessionsRequest::default()).await;
    assert_eq!(names(&live), vec![session_name(&f.bob_first.sid)]);
    let every = list(
        app,
        pb::ListSessionsRequest {
            include_ended: true,
            ..Default::default()
        },
    )
    .await;
    assert!(
        every
            .iter()
            .any(|s| s.name == alices && s.end_time.is_some())
    );

    let again = app
        .sessions(app.root())
        .revoke_session(pb::RevokeSessionRequest {
            name: alices.clone(),
        })
        .await
        .expect("revoking again is harmless")
        .into_inner();
    assert_eq!(again.end_time, revoked.end_time);

    let events = app
        .audit(app.root())
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .audit_events;
    let revokes = events
        .iter()
        .filter(|e| e.action == "SessionService.RevokeSession" && e.target == alices)
        .count();
    assert_eq!(revokes, 2, "{events:?}");
    f.app.stop().await;
}

async fn set_lifetimes(app: &TestApp, idle: Duration, absolute: Duration) -> pb::Tenant {
    app.tenants(app.root())
        .update_tenant(update(idle, absolute))
        .await
        .expect("update lifetimes")
        .into_inner()
}

fn update(idle: Duration, absolute: Duration) -> pb::UpdateTenantRequest {
    let seconds = |d: Duration| prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).expect("seconds"),
        nanos: 0,
    };
    pb::UpdateTenantRequest {
        tenant: Some(pb::Tenant {
            name: "tenants/acme".into(),
            session_idle_lifetime: Some(seconds(idle)),
            session_absolute_lifetime: Some(seconds(absolute)),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![
                "session_idle_lifetime".into(),
                "session_absolute_lifetime".into(),
            ],
        }),
    }
}

async fn session_lifetimes_are_tenant_settings_checked_against_their_bounds(backend: Backend) {
    let (app, _) = acme(backend).await;
    let defaults = app
        .tenants(app.root())
        .get_tenant(pb::GetTenantRequest {
            name: "tenants/acme".into(),
        })
        .await
        .expect("tenant")
        .into_inner();
    assert_eq!(
        defaults.session_idle_lifetime.map(|d| d.seconds),
        Some(8 * 3600)
    );
    assert_eq!(
        defaults.session_absolute_lifetime.map(|d| d.seconds),
        Some(24 * 3600)
    );

    let mut tenants = app.tenants(app.root());
    violation(
        tenants
            .update_tenant(update(Duration::from_secs(299), 2 * MINUTE * 60))
            .await,
        "tenant.session_idle_lifetime",
        "between 300 and",
    );
    violation(
        tenants
            .update_tenant(update(
                31 * 24 * 60 * MINUTE,
                Duration::from_secs(366 * 86_400),
            ))
            .await,
        "tenant.session_absolute_lifetime",
        "between 300 and",
    );
    violation(
        tenants
            .update_tenant(update(31 * 24 * 60 * MINUTE, 60 * MINUTE))
            .await,
        "tenant.session_idle_lifetime",
        "and 2592000 seconds",
    );

    let updated = set_lifetimes(&app, 15 * MINUTE, 120 * MINUTE).await;
    assert_eq!(
        updated.session_idle_lifetime.map(|d| d.seconds),
        Some(15 * 60)
    );
    assert_eq!(
        updated.session_absolute_lifetime.map(|d| d.seconds),
        Some(120 * 60)
    );

    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(WEB_CALLBACK);
    let signed_in = authorize(&app, &browser, &web, Some("alice")).await;
    let session = app
        .sessions(app.root())
        .get_session(pb::GetSessionRequest {
            name: session_name(&signed_in.sid),
        })
        .await
        .expect("session")
        .into_inner();
    let auth_time = session.auth_time.map(|t| t.seconds).expect("auth_time");
    assert_eq!(
        session.expire_time.map(|t| t.seconds),
        Some(auth_time + 120 * 60)
    );
    assert_eq!(
        session.idle_expire_time.map(|t| t.seconds),
        Some(auth_time + 15 * 60)
    );
    app.stop().await;
}

async fn an_idle_session_ends_unless_an_authorization_uses_it_in_time(backend: Backend) {
    let (app, _) = acme(backend).await;
    set_lifetimes(&app, 10 * MINUTE, 60 * MINUTE).await;
    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(WEB_CALLBACK);
    authorize(&app, &browser, &web, Some("alice")).await;

    app.clock.advance(9 * MINUTE);
    assert_eq!(prompt_none(&app, &browser, &web).await, Ok(()));
    app.clock.advance(9 * MINUTE);
    assert_eq!(
        prompt_none(&app, &browser, &web).await,
        Ok(()),
        "18 minutes after sign-in, but 9 after its last use"
    );
    app.clock.advance(10 * MINUTE + Duration::from_secs(1));
    assert_eq!(
        prompt_none(&app, &browser, &web).await,
        Err("login_required".into())
    );
    let live = list(&app, pb::ListSessionsRequest::default()).await;
    assert!(live.is_empty(), "an idle session is not live: {live:?}");
    app.stop().await;
}

async fn a_session_ends_at_its_absolute_end_however_much_it_is_used(backend: Backend) {
    let (app, _) = acme(backend).await;
    set_lifetimes(&app, 30 * MINUTE, 60 * MINUTE).await;
    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(WEB_CALLBACK);
    authorize(&app, &browser, &web, Some("alice")).await;

    for _ in 0..2 {
        app.clock.advance(25 * MINUTE);
        assert_eq!(prompt_none(&app, &browser, &web).await, Ok(()));
    }
    app.clock.advance(10 * MINUTE + Duration::from_secs(1));
    assert_eq!(
        prompt_none(&app, &browser, &web).await,
        Err("login_required".into()),
        "an hour after sign-in, though used 10 minutes ago"
    );
    app.stop().await;
}

async fn native_sso_logout(
    app: &TestApp,
    token: Option<&str>,
    parent: &str,
    session_id: &str,
) -> Result<i64, tonic::Status> {
    app.sessions(token)
        .native_sso_logout(pb::NativeSsoLogoutRequest {
            parent: parent.to_owned(),
            session_id: session_id.to_owned(),
        })
        .await
        .map(|r| r.into_inner().deleted_count)
}

async fn native_sso_logout_counts_what_it_deleted_and_the_tokens_stop_working(backend: Backend) {
    let f = fixture(backend).await;
    let app = &f.app;

    violation(
        native_sso_logout(app, app.root(), "tenants/acme", "").await,
        "session_id",
        "required",
    );
    assert_eq!(
        native_sso_logout(app, app.root(), "tenants/acme", "nosuchsession")
            .await
            .expect("an unknown session"),
        0
    );

    let deleted = native_sso_logout(app, app.root(), "tenants/acme", &f.alice_first.sid)
        .await
        .expect("logout");
    assert_eq!(
        deleted, 4,
        "two refresh tokens and two access tokens, one of each per application"
    );
    assert_tokens_dead(app, &f.first, &f.alice_first).await;
    assert_tokens_dead(app, &f.second, &f.alice_second).await;
    assert_eq!(
        prompt_none(app, &f.alice_browser, &f.second).await,
        Err("login_required".into())
    );
    assert_tokens_alive(app, &f.first, &f.bob_first).await;

    assert_eq!(
        native_sso_logout(app, app.root(), "tenants/acme", &f.alice_first.sid)
            .await
            .expect("again"),
        0,
        "nothing is left to delete"
    );
    let session = app
        .sessions(app.root())
        .get_session(pb::GetSessionRequest {
            name: session_name(&f.alice_first.sid),
        })
        .await
        .expect("the ended session is still readable")
        .into_inner();
    assert!(session.end_time.is_some());

    let events = app
        .audit(app.root())
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .audit_events;
    assert!(
        events
            .iter()
            .any(|e| e.action == "SessionService.NativeSsoLogout"
                && e.target == session_name(&f.alice_first.sid)
                && e.outcome == "OK"),
        "{events:?}"
    );
    f.app.stop().await;
}

async fn native_sso_logout_is_refused_to_tokens_that_do_not_reach_the_tenant(backend: Backend) {
    let f = fixture(backend).await;
    let app = &f.app;
    app.create_tenant("globex").await;
    let (_, globex) = app
        .create_token("tenants/globex", &["sessions.read", "sessions.write"], None)
        .await;
    let status = refused(
        native_sso_logout(app, Some(&globex), "tenants/acme", &f.alice_first.sid).await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("tenants/globex"), "{status:?}");
    refused(
        app.sessions(Some(&globex))
            .list_sessions(pb::ListSessionsRequest {
                parent: "tenants/acme".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
    );
    let (_, reader) = app
        .create_token("tenants/acme", &["sessions.read"], None)
        .await;
    refused(
        native_sso_logout(app, Some(&reader), "tenants/acme", &f.alice_first.sid).await,
        Code::PermissionDenied,
    );
    assert_tokens_alive(app, &f.first, &f.alice_first).await;

    let (_, organization) = app
        .create_token("organizations/default", &["sessions.write"], None)
        .await;
    let deleted = native_sso_logout(app, Some(&organization), "tenants/acme", &f.bob_first.sid)
        .await
        .expect("an organization token reaches every tenant");
    assert_eq!(deleted, 2, "bob's refresh token and its access token");
    assert_tokens_dead(app, &f.first, &f.bob_first).await;

    let (_, own) = app
        .create_token("tenants/acme", &["sessions.write"], None)
        .await;
    let deleted = native_sso_logout(app, Some(&own), "tenants/acme", &f.alice_second.sid)
        .await
        .expect("a service token of the tenant");
    assert!(
        deleted >= 2,
        "alice's tokens of both applications: {deleted}"
    );
    assert_tokens_dead(app, &f.second, &f.alice_second).await;
    f.app.stop().await;
}
