//! Token revocation (RFC 7009): a client revokes its own tokens; anything else is a
//! silent 200 that changes nothing; a revoked access token is refused at once by
//! introspection and userinfo.

use keyhaven_tests::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use serde_json::Value;

use crate::oidc_support::{Client, WEB, acme, assert_invalid_grant, client, http, issuer};
use crate::refresh_tokens::{NATIVE, introspect, refresh, signed_in, userinfo_status};

on_both_backends!(
    revoking_a_refresh_token_revokes_its_grant_and_the_access_tokens_issued_in_it,
    revoking_an_access_token_makes_it_inactive_at_once_and_leaves_the_grant,
    invalid_unknown_and_foreign_tokens_are_a_silent_200_that_changes_nothing,
    the_revocation_endpoint_authenticates_its_callers,
);

/// POSTs a revocation for `token` as `caller` at `tenant`, with `extra` form fields.
async fn revoke(
    app: &TestApp,
    tenant: &str,
    caller: &Client,
    token: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = vec![("token", token)];
    form.extend_from_slice(extra);
    let mut request = http().post(format!("{}/oauth2/revoke", issuer(app, tenant)));
    match &caller.secret {
        Some(secret) => request = request.basic_auth(&caller.client_id, Some(secret)),
        None => form.push(("client_id", &caller.client_id)),
    }
    let response = request.form(&form).send().await.expect("revocation");
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.text().await.expect("body"))
}

fn text(token: &Value) -> &str {
    token.as_str().expect("a token")
}

async fn revoking_a_refresh_token_revokes_its_grant_and_the_access_tokens_issued_in_it(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let first = signed_in(&app, &web).await;
    let (status, second) = refresh(&app, &web, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");

    // A wrong hint does not stop the search (RFC 7009 §2.1).
    let (status, body) = revoke(
        &app,
        "acme",
        &web,
        text(&second["refresh_token"]),
        &[("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.is_empty());
    assert_invalid_grant(&refresh(&app, &web, &second["refresh_token"]).await);
    for access_token in [&first["access_token"], &second["access_token"]] {
        assert_eq!(
            introspect(&app, &web, access_token).await,
            serde_json::json!({ "active": false })
        );
        assert_eq!(
            userinfo_status(&app, access_token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Revoking it again is still a 200.
    let (status, _) = revoke(&app, "acme", &web, text(&second["refresh_token"]), &[]).await;
    assert_eq!(status, StatusCode::OK);

    // A public client revokes its own token with nothing but its client_id.
    let native = client(&app, "acme", NATIVE).await;
    let tokens = signed_in(&app, &native).await;
    let (status, _) = revoke(&app, "acme", &native, text(&tokens["refresh_token"]), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_invalid_grant(&refresh(&app, &native, &tokens["refresh_token"]).await);
    app.stop().await;
}

async fn revoking_an_access_token_makes_it_inactive_at_once_and_leaves_the_grant(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let tokens = signed_in(&app, &web).await;
    assert_eq!(
        introspect(&app, &web, &tokens["access_token"]).await["active"],
        true
    );
    let (status, _) = revoke(
        &app,
        "acme",
        &web,
        text(&tokens["access_token"]),
        &[("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        introspect(&app, &web, &tokens["access_token"]).await,
        serde_json::json!({ "active": false })
    );
    let response = http()
        .get(format!("{}/oauth2/userinfo", issuer(&app, "acme")))
        .bearer_auth(text(&tokens["access_token"]))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("error=\"invalid_token\"")
    );
    // The refresh token was not revoked with it (RFC 7009 §2.1 leaves this to us).
    let (status, body) = refresh(&app, &web, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        userinfo_status(&app, &body["access_token"]).await,
        StatusCode::OK
    );
    app.stop().await;
}

async fn invalid_unknown_and_foreign_tokens_are_a_silent_200_that_changes_nothing(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let web2 = client(&app, "acme", WEB).await;
    let tokens = signed_in(&app, &web).await;

    for garbage in [
        "garbage",
        "eyJhbGciOiJub25lIn0.e30.",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (status, body) =
            revoke(&app, "acme", &web, garbage, &[("token_type_hint", "foo")]).await;
        assert_eq!(status, StatusCode::OK, "{garbage}: {body}");
    }
    // Another client's tokens: 200, and they keep working.
    for token in [&tokens["refresh_token"], &tokens["access_token"]] {
        let (status, _) = revoke(&app, "acme", &web2, text(token), &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        introspect(&app, &web, &tokens["access_token"]).await["active"],
        true
    );
    // Tenant B's client revoking tenant A's tokens at B: A's tokens are unaffected.
    app.create_tenant("globex").await;
    let globex_web = client(&app, "globex", WEB).await;
    for token in [&tokens["refresh_token"], &tokens["access_token"]] {
        let (status, _) = revoke(&app, "globex", &globex_web, text(token), &[]).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        introspect(&app, &web, &tokens["access_token"]).await["active"],
        true
    );
    let (status, body) = refresh(&app, &web, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}

async fn the_revocation_endpoint_authenticates_its_callers(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let tokens = signed_in(&app, &web).await;
    let endpoint = format!("{}/oauth2/revoke", issuer(&app, "acme"));

    let wrong = http()
        .post(&endpoint)
        .basic_auth(&web.client_id, Some("khs_wrong"))
        .form(&[("token", text(&tokens["refresh_token"]))])
        .send()
        .await
        .expect("revocation");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Basic")
    );
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");

    let anonymous = http()
        .post(&endpoint)
        .form(&[("token", text(&tokens["refresh_token"]))])
        .send()
        .await
        .expect("revocation");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let missing = http()
        .post(&endpoint)
        .basic_auth(&web.client_id, web.secret.as_deref())
        .form(&[("token_type_hint", "refresh_token")])
        .send()
        .await
        .expect("revocation");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");

    let get = http().get(&endpoint).send().await.expect("GET");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);

    // None of it touched the token.
    let (status, body) = refresh(&app, &web, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}
