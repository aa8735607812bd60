//! Background cleanup (issue 6): a steady load through the public API, then time passes
//! and a sweep runs; every table falls back to the rows that still matter, cycle after
//! cycle, and a sweep never takes what is still in use.

use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends, row_counts};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;

use crate::oidc_support::{
    Browser, Client, WEB, acme, assert_invalid_grant, authorize_url, client, code_for, exchange,
    http, issuer, param, redirect_params, register,
};
use crate::refresh_tokens::{introspect, refresh, signed_in};

on_both_backends!(
    a_steady_load_leaves_every_table_at_its_floor_once_its_lifetimes_have_passed,
    a_sweep_keeps_every_token_session_and_code_that_still_matters,
);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The tables whose rows a sign-in, a token or a failure leaves behind; everything else
/// (tenants, applications, users, keys, audit) is the control plane's and stays.
const TRANSIENT: &[&str] = &[
    "authorization_codes",
    "cache_changes",
    "authorization_requests",
    "device_secrets",
    "logout_deliveries",
    "refresh_tokens",
    "request_ids",
    "revocations",
    "session_applications",
    "sessions",
    "sign_in_throttles",
];

async fn a_steady_load_leaves_every_table_at_its_floor_once_its_lifetimes_have_passed(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let mobile = native_sso_app(&app).await;
    // The setup's control-plane changes left entries in the (SQLite) change log: a sweep
    // an hour and more later takes them, so that each cycle below starts from the floor.
    app.clock.advance(DAY);
    app.running.sweep_now().await.expect("sweep");
    assert_eq!(count(&row_counts(&app).await, "cache_changes"), 0);
    let mut after_sweep = Vec::new();
    let mut peaks = Vec::new();
    for cycle in 0..3 {
        for _ in 0..2 {
            load(&app, &web, &mobile).await;
        }
        let peak = row_counts(&app).await;
        for table in [
            "authorization_codes",
            "authorization_requests",
            "device_secrets",
            "refresh_tokens",
            "revocations",
            "sessions",
            "session_applications",
            "sign_in_throttles",
        ] {
            assert!(count(&peak, table) > 0, "the load leaves {table} rows");
        }
        // Past every lifetime: refresh tokens (30 days), the margin sessions and redeemed
        // codes keep for access tokens (1 day), the throttle's memory (1 hour).
        app.clock.advance(33 * DAY);
        let swept = app.running.sweep_now().await.expect("sweep");
        let counts = row_counts(&app).await;
        eprintln!(
            "cycle {cycle} ({backend:?}): before the sweep {}; deleted {:?}; after {}",
            show(&peak),
            swept.deleted,
            show(&counts)
        );
        for table in TRANSIENT {
            assert_eq!(count(&counts, table), 0, "{table} after the sweep");
        }
        // Each table lost what the sweep says it deleted (session_applications go with
        // their sessions, by cascade).
        for (table, deleted) in &swept.deleted {
            assert_eq!(
                i64::try_from(*deleted).expect("a count"),
                count(&peak, table) - count(&counts, table),
                "{table}"
            );
        }
        after_sweep.push(counts);
        peaks.push(peak);
    }
    // Bounded: the same load leaves the same rows, and the sweep takes them all back.
    assert!(
        after_sweep.windows(2).all(|w| w[0] == w[1]),
        "{after_sweep:?}"
    );
    assert!(peaks.windows(2).all(|w| w[0] == w[1]), "{peaks:?}");
    // Nothing left for a second pass.
    assert_eq!(app.running.sweep_now().await.expect("sweep").total(), 0);
    app.stop().await;
}

async fn a_sweep_keeps_every_token_session_and_code_that_still_matters(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    let (code, verifier) = code_for(&app, &web, "alice").await;
    let (status, granted) = exchange(&app, &web, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    let (status, second) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");

    // Right after issuing, a sweep takes nothing in use.
    let swept = app.running.sweep_now().await.expect("sweep");
    assert_eq!(swept.total(), 0, "{swept:?}");
    let (status, third) = refresh(&app, &web, &second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(
        introspect(&app, &web, &third["access_token"]).await["active"],
        true
    );

    // Two days on, the sessions have expired (24 h) but their refresh tokens live: the
    // sessions stay, and the grants still refresh.
    app.clock.advance(2 * DAY);
    app.running.sweep_now().await.expect("sweep");
    let (status, fourth) = refresh(&app, &web, &third["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{fourth}");
    let (status, later) = refresh(&app, &web, &granted["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{later}");
    let active = introspect(&app, &web, &fourth["refresh_token"]).await;
    assert_eq!(active["active"], true, "{active}");

    // A month on, the first refresh token is past its own expiry, but its family lives
    // (rotated on day 2): a replay is still reuse, and still revokes the family. The
    // code's family lives too: replaying the code still revokes what it issued.
    app.clock.advance(29 * DAY);
    let swept = app.running.sweep_now().await.expect("sweep");
    let (status, body) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_invalid_grant(&(status, body.clone()));
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("already used")),
        "a replay, not an unknown token, after {swept:?}: {body}"
    );
    assert_invalid_grant(&refresh(&app, &web, &fourth["refresh_token"]).await);
    assert_invalid_grant(&exchange(&app, &web, &code, &verifier).await);
    assert_invalid_grant(&refresh(&app, &web, &later["refresh_token"]).await);
    app.stop().await;
}

/// One round of the load: what users and clients do in a day, good and bad.
async fn load(app: &TestApp, web: &Client, mobile: &Client) {
    // Sign-in, rotation, then a replay of the rotated token after the retry window.
    let a = signed_in(app, web).await;
    let (status, b) = refresh(app, web, &a["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    app.clock.advance(Duration::from_secs(31));
    assert_invalid_grant(&refresh(app, web, &a["refresh_token"]).await);

    // RFC 7009 revocation of both tokens of a grant.
    let c = signed_in(app, web).await;
    for token in [&c["refresh_token"], &c["access_token"]] {
        let response = http()
            .post(format!("{}/oauth2/revoke", issuer(app, "acme")))
            .basic_auth(&web.client_id, web.secret.as_deref())
            .form(&[("token", token.as_str().expect("token"))])
            .send()
            .await
            .expect("revocation");
        assert_eq!(response.status(), StatusCode::OK);
    }

    // The sign-out API ends a session.
    let d = signed_in(app, web).await;
    let response = http()
        .post(format!("{}/auth/v1/user/signout", issuer(app, "acme")))
        .bearer_auth(d["access_token"].as_str().expect("access token"))
        .send()
        .await
        .expect("sign-out");
    assert_eq!(response.status(), StatusCode::OK);

    // A code redeemed twice, and one never redeemed.
    let (code, verifier) = code_for(app, web, "alice").await;
    assert_eq!(exchange(app, web, &code, &verifier).await.0, StatusCode::OK);
    assert_invalid_grant(&exchange(app, web, &code, &verifier).await);
    code_for(app, web, "alice").await;

    // A wrong password, and the request it was for abandoned.
    let browser = Browser::new(&web.redirect_uri);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        "acme",
        web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = browser.open(&url).await;
    let failed = browser.sign_in(page, "alice", "not the password").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);

    // Native SSO: a device secret bound to a session.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        app,
        "acme",
        mobile,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid device_sso"),
        ],
    );
    let response = Browser::new(&mobile.redirect_uri)
        .authorize(&url, "alice")
        .await;
    let code = param(&redirect_params(&response), "code")
        .expect("a code")
        .to_owned();
    let (status, body) = exchange(app, mobile, &code, verifier.secret()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["device_secret"].is_string(), "{body}");
}

async fn native_sso_app(app: &TestApp) -> Client {
    let created = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/acme".into(),
            application: Some(pb::Application {
                display_name: "Acme Mobile".into(),
                r#type: pb::ApplicationType::Native as i32,
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                first_party: true,
                native_sso: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("application")
        .into_inner()
        .application
        .expect("application");
    let uri = "http://127.0.0.1/callback";
    register(app, &created.name, uri, pb::Environment::Localhost).await;
    Client {
        client_id: created.client_id,
        secret: None,
        redirect_uri: uri.to_owned(),
    }
}

fn count(counts: &[(String, i64)], table: &str) -> i64 {
    counts
        .iter()
        .find(|(t, _)| t == table)
        .map_or_else(|| panic!("no table {table}"), |(_, n)| *n)
}

fn show(counts: &[(String, i64)]) -> String {
    counts
        .iter()
        .map(|(t, n)| format!("{t}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}
