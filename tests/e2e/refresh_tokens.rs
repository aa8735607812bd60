//! The refresh token grant: rotation, reuse detection with its retry window, binding to
//! the client, scope narrowing, and what ends a grant (RFC 6749 §6, RFC 9700 §4.14,
//! OIDC Core §12, design.md §4.4).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use serde_json::Value;

use crate::oidc_support::{
    Client, ClientOptions, WEB, acme, assert_invalid_grant, claims_of, client, code_for, exchange,
    http, issuer, token,
};

on_both_backends!(
    a_refresh_rotates_both_tokens_and_keeps_the_id_token_of_the_original_sign_in,
    a_retry_inside_the_window_gets_the_same_answer_and_a_later_replay_revokes_the_family,
    a_replay_after_the_window_revokes_the_family_and_its_access_tokens,
    concurrent_refreshes_with_one_token_yield_exactly_one_successor,
    a_refresh_token_is_bound_to_its_client,
    a_refresh_may_narrow_the_scope_but_never_widen_it,
    disabling_or_deleting_the_user_or_expiry_ends_the_grant,
    a_replayed_code_revokes_the_tokens_issued_for_it,
);

pub(crate) const NATIVE: ClientOptions = ClientOptions {
    app_type: pb::ApplicationType::Native,
    first_party: true,
    allow_code_without_pkce: false,
};

/// Signs alice in with `client` and exchanges the code: the first token response.
pub(crate) async fn signed_in(app: &TestApp, client: &Client) -> Value {
    let (code, verifier) = code_for(app, client, "alice").await;
    let (status, body) = exchange(app, client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string(), "{body}");
    body
}

pub(crate) async fn refresh(
    app: &TestApp,
    client: &Client,
    refresh_token: &Value,
) -> (StatusCode, Value) {
    token(
        app,
        client,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refresh_token.as_str().expect("refresh token"),
            ),
        ],
    )
    .await
}

/// RFC 7662 introspection of `token`, by `caller`.
pub(crate) async fn introspect(app: &TestApp, caller: &Client, token: &Value) -> Value {
    let response = http()
        .post(format!("{}/oauth2/introspect", issuer(app, "acme")))
        .basic_auth(&caller.client_id, caller.secret.as_deref())
        .form(&[("token", token.as_str().expect("token"))])
        .send()
        .await
        .expect("introspection");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

pub(crate) async fn userinfo_status(app: &TestApp, access_token: &Value) -> StatusCode {
    http()
        .get(format!("{}/oauth2/userinfo", issuer(app, "acme")))
        .bearer_auth(access_token.as_str().expect("access token"))
        .send()
        .await
        .expect("userinfo")
        .status()
}

#[track_caller]
fn assert_inactive(introspection: &Value) {
    assert_eq!(*introspection, serde_json::json!({ "active": false }));
}

async fn a_refresh_rotates_both_tokens_and_keeps_the_id_token_of_the_original_sign_in(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    app.clock.advance(Duration::from_secs(5));

    let response = http()
        .post(format!("{}/oauth2/token", issuer(&app, "acme")))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                first["refresh_token"].as_str().expect("rt"),
            ),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.expect("json");
    assert_eq!(second["token_type"], "Bearer");
    assert!(second["expires_in"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(second["scope"], first["scope"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    let rt = second["refresh_token"].as_str().expect("rt");
    assert!(
        rt.len() >= 43 && rt.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "VSCHAR, 256 bits"
    );

    // OIDC Core §12.2: same iss, sub, aud, auth_time and sid; a new iat; no nonce.
    let before = claims_of(first["id_token"].as_str().expect("id token"));
    let after = claims_of(second["id_token"].as_str().expect("a refreshed id token"));
    for claim in ["iss", "sub", "aud", "auth_time", "sid"] {
        assert_eq!(after[claim], before[claim], "{claim}");
    }
    assert!(before["nonce"].is_string());
    assert!(after.get("nonce").is_none(), "{after}");
    assert!(after["iat"].as_i64() > before["iat"].as_i64());
    let access = claims_of(second["access_token"].as_str().expect("at"));
    assert_eq!(access["sid"], before["sid"]);
    assert_eq!(access["client_id"], web.client_id.as_str());

    // Both access tokens stay valid; only refresh tokens rotate.
    assert_eq!(
        userinfo_status(&app, &second["access_token"]).await,
        StatusCode::OK
    );
    assert_eq!(
        userinfo_status(&app, &first["access_token"]).await,
        StatusCode::OK
    );
    // A public client rotates too, authenticated by nothing but its token and client_id.
    let native = client(&app, "acme", NATIVE).await;
    let first = signed_in(&app, &native).await;
    let (status, second) = refresh(&app, &native, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    app.stop().await;
}

async fn a_retry_inside_the_window_gets_the_same_answer_and_a_later_replay_revokes_the_family(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    let (status, second) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");

    // The answer was lost: the client retries with the same token, 29 s later.
    app.clock.advance(Duration::from_secs(29));
    let (status, again) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, second, "the very same answer");

    // It uses the new token; from now on the old one is in two hands if it comes back.
    let (status, third) = refresh(&app, &web, &second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_invalid_grant(&refresh(&app, &web, &first["refresh_token"]).await);
    assert_invalid_grant(&refresh(&app, &web, &third["refresh_token"]).await);
    assert_inactive(&introspect(&app, &web, &third["access_token"]).await);
    assert_inactive(&introspect(&app, &web, &third["refresh_token"]).await);
    assert_eq!(
        userinfo_status(&app, &third["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

async fn a_replay_after_the_window_revokes_the_family_and_its_access_tokens(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    let (status, second) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let active = introspect(&app, &web, &second["refresh_token"]).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "refresh_token");
    assert_inactive(&introspect(&app, &web, &first["refresh_token"]).await);

    app.clock.advance(Duration::from_secs(30));
    let (status, body) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_invalid_grant(&(status, body.clone()));
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("already used")),
        "{body}"
    );
    assert_invalid_grant(&refresh(&app, &web, &second["refresh_token"]).await);
    for access_token in [&first["access_token"], &second["access_token"]] {
        assert_inactive(&introspect(&app, &web, access_token).await);
        assert_eq!(
            userinfo_status(&app, access_token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Another grant of the same user is untouched.
    let other = signed_in(&app, &web).await;
    assert_eq!(
        refresh(&app, &web, &other["refresh_token"]).await.0,
        StatusCode::OK
    );
    app.stop().await;
}

async fn concurrent_refreshes_with_one_token_yield_exactly_one_successor(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    let app = Arc::new(app);
    let web = Arc::new(web);
    let racers: Vec<_> = (0..5)
        .map(|_| {
            let (app, web, rt) = (app.clone(), web.clone(), first["refresh_token"].clone());
            tokio::spawn(async move { refresh(&app, &web, &rt).await })
        })
        .collect();
    let mut successors = HashSet::new();
    for racer in racers {
        let (status, body) = racer.await.expect("joined");
        assert_eq!(status, StatusCode::OK, "{body}");
        successors.insert(body["refresh_token"].as_str().expect("rt").to_owned());
    }
    assert_eq!(successors.len(), 1, "one successor, handed to every retry");
    // Each racer stored its successor before trying to rotate; the losers removed theirs.
    assert_eq!(
        refresh_token_rows(&app).await,
        2,
        "the first token and its successor"
    );
    let successor = Value::String(successors.into_iter().next().expect("one"));
    assert_eq!(refresh(&app, &web, &successor).await.0, StatusCode::OK);
    assert_eq!(refresh_token_rows(&app).await, 3);
    Arc::into_inner(app).expect("sole owner").stop().await;
}

async fn refresh_token_rows(app: &TestApp) -> i64 {
    keyhaven_tests::row_counts(app)
        .await
        .into_iter()
        .find(|(table, _)| table == "refresh_tokens")
        .map(|(_, rows)| rows)
        .expect("a refresh_tokens table")
}

async fn a_refresh_token_is_bound_to_its_client(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let web2 = client(&app, "acme", WEB).await;
    let native = client(&app, "acme", NATIVE).await;
    let native2 = client(&app, "acme", NATIVE).await;
    let first = signed_in(&app, &web).await;
    let rt = &first["refresh_token"];

    assert_invalid_grant(&refresh(&app, &web2, rt).await);
    assert_invalid_grant(&refresh(&app, &native, rt).await);
    // Without its credentials a confidential client is not authenticated at all.
    let anonymous = Client {
        client_id: web.client_id.clone(),
        secret: None,
        redirect_uri: web.redirect_uri.clone(),
    };
    let (status, body) = refresh(&app, &anonymous, rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    let native_tokens = signed_in(&app, &native).await;
    assert_invalid_grant(&refresh(&app, &native2, &native_tokens["refresh_token"]).await);

    // Another client's attempt neither spends nor revokes the token.
    let (status, body) = refresh(&app, &web, rt).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Tenant B does not know tenant A's clients or tokens.
    app.create_tenant("globex").await;
    let response = http()
        .post(format!("{}/oauth2/token", issuer(&app, "globex")))
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().expect("rt")),
        ])
        .send()
        .await
        .expect("refresh at globex");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn a_refresh_may_narrow_the_scope_but_never_widen_it(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    assert_eq!(first["scope"], "openid profile");
    let rt = first["refresh_token"].as_str().expect("rt");

    let (status, body) = token(
        &app,
        &web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", "openid profile email"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );
    let (status, narrowed) = token(
        &app,
        &web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", "profile"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(narrowed["scope"], "profile");
    assert!(narrowed.get("id_token").is_none(), "no openid, no ID token");
    // The grant itself keeps its scope (RFC 6749 §6).
    let (status, full) = refresh(&app, &web, &narrowed["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(full["scope"], "openid profile");
    app.stop().await;
}

async fn disabling_or_deleting_the_user_or_expiry_ends_the_grant(backend: Backend) {
    let (app, alice) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;

    // Thirty days later (the default lifetime) the token has expired.
    app.clock.advance(Duration::from_secs(30 * 24 * 3600));
    let (status, body) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_invalid_grant(&(status, body.clone()));
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("expired")),
        "{body}"
    );

    let third = signed_in(&app, &web).await;
    set_disabled(&app, &alice, true).await;
    assert_invalid_grant(&refresh(&app, &web, &third["refresh_token"]).await);
    // Its sessions ended with it: the access tokens issued in them are refused at once.
    assert_inactive(&introspect(&app, &web, &third["access_token"]).await);
    assert_eq!(
        userinfo_status(&app, &third["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    // Enabling the user again revives nothing.
    set_disabled(&app, &alice, false).await;
    assert_inactive(&introspect(&app, &web, &third["access_token"]).await);
    assert_invalid_grant(&refresh(&app, &web, &third["refresh_token"]).await);

    // Deleting a user revokes the same way, although its rows are gone.
    let fourth = signed_in(&app, &web).await;
    assert_eq!(
        introspect(&app, &web, &fourth["access_token"]).await["active"],
        true
    );
    app.users(app.root())
        .delete_user(pb::DeleteUserRequest {
            name: alice.name.clone(),
        })
        .await
        .expect("deleted");
    assert_inactive(&introspect(&app, &web, &fourth["access_token"]).await);
    assert_invalid_grant(&refresh(&app, &web, &fourth["refresh_token"]).await);
    app.stop().await;
}

async fn set_disabled(app: &TestApp, user: &pb::User, disabled: bool) {
    app.users(app.root())
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: user.name.clone(),
                disabled,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("updated");
}

async fn a_replayed_code_revokes_the_tokens_issued_for_it(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (code, verifier) = code_for(&app, &web, "alice").await;
    let (status, first) = exchange(&app, &web, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, refreshed) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        userinfo_status(&app, &first["access_token"]).await,
        StatusCode::OK
    );

    app.clock.advance(Duration::from_secs(1));
    assert_invalid_grant(&exchange(&app, &web, &code, &verifier).await);
    for access_token in [&first["access_token"], &refreshed["access_token"]] {
        assert_inactive(&introspect(&app, &web, access_token).await);
        assert_eq!(
            userinfo_status(&app, access_token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_invalid_grant(&refresh(&app, &web, &refreshed["refresh_token"]).await);
    app.stop().await;
}
