//! The authorization code flow through the front door: a real relying party (the
//! `openidconnect` crate) discovers the tenant and builds the authorization request; a
//! "browser" (reqwest with a cookie jar) loads the sign-in page, posts its form with the
//! CSRF token and follows redirects until the callback; the relying party exchanges the
//! code, verifies the ID token and calls userinfo. Then what the token endpoint refuses:
//! reused, expired or mismatched codes. The browser and relying-party helpers live in
//! `oidc_support`.

use std::sync::Arc;
use std::time::Duration;

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, on_both_backends};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

use crate::oidc_support::{
    Browser, ClientOptions, WEB, acme, assert_invalid_grant, authorize_url, claims_of, client,
    code_for, exchange, http, issuer, param, redirect_params, token,
};
use crate::refresh_tokens::{refresh, userinfo_status};

on_both_backends!(
    a_relying_party_signs_a_user_in_with_pkce_and_verifies_the_id_token_and_userinfo,
    a_public_client_signs_in_on_any_loopback_port_with_pkce_and_no_secret,
    a_second_authorization_gets_a_code_from_the_session_without_signing_in_again,
    a_reused_authorization_code_is_invalid_grant_and_concurrent_redemptions_have_one_winner,
    the_token_request_must_repeat_the_redirect_uri_of_the_authorization_request,
    an_authorization_code_expires_after_sixty_seconds,
    a_code_without_openid_yields_no_id_token_and_its_token_no_userinfo,
);

async fn a_relying_party_signs_a_user_in_with_pkce_and_verifies_the_id_token_and_userinfo(
    backend: Backend,
) {
    let (app, alice) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let rp_http = http();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(issuer(&app, "acme")).expect("issuer"),
        &rp_http,
    )
    .await
    .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(web.client_id.clone()),
        web.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(web.redirect_uri.clone()).expect("redirect URI"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let callback = Browser::new(&web.redirect_uri)
        .authorize(url.as_str(), "alice")
        .await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    let location = callback.headers()["location"].to_str().expect("location");
    assert!(location.starts_with("https://rp.example/cb?"), "{location}");
    let params = redirect_params(&callback);
    assert_eq!(param(&params, "state"), Some(state.secret().as_str()));
    assert_eq!(
        param(&params, "iss"),
        Some(issuer(&app, "acme").as_str()),
        "RFC 9207"
    );
    let code = param(&params, "code").expect("code");
    assert!(code.len() >= 43, "256-bit codes: {code}");

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchanged");
    let id_token = tokens
        .id_token()
        .expect("an ID token for an openid request");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies, nonce included");
    assert_eq!(
        claims.subject().as_str(),
        alice.name.rsplit('/').next().expect("user id")
    );
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("at_hash computed");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(tokens.scopes().map(|s| s.len()), Some(3));

    // The raw ID token: RS256, typ JWT, sid and nonce as sent.
    let raw = id_token.to_string();
    let header = jsonwebtoken::decode_header(&raw).expect("header");
    assert_eq!(
        (header.alg, header.typ.as_deref()),
        (jsonwebtoken::Algorithm::RS256, Some("JWT"))
    );
    let payload = claims_of(&raw);
    assert_eq!(payload["aud"], web.client_id.as_str());
    assert_eq!(payload["nonce"], nonce.secret().as_str());
    let sid = payload["sid"].as_str().expect("sid");
    assert_eq!(
        claims_of(tokens.access_token().secret())["sid"],
        sid,
        "one session, one sid"
    );

    let userinfo: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().to_owned(), None)
        .expect("userinfo endpoint known")
        .request_async(&rp_http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(
        userinfo.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(
        userinfo
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Alice")
    );

    // Userinfo without a token, with a bad one, or with the ID token instead.
    let endpoint = format!("{}/oauth2/userinfo", issuer(&app, "acme"));
    let none = http().get(&endpoint).send().await.expect("userinfo");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"keyhaven\""
    );
    for bad in [raw.as_str(), "not-a-token"] {
        let refused = http()
            .get(&endpoint)
            .bearer_auth(bad)
            .send()
            .await
            .expect("userinfo");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{challenge}"
        );
    }
    let by_post = http()
        .post(&endpoint)
        .form(&[("access_token", tokens.access_token().secret())])
        .send()
        .await
        .expect("userinfo");
    assert_eq!(by_post.status(), StatusCode::OK);
    app.stop().await;
}

async fn a_public_client_signs_in_on_any_loopback_port_with_pkce_and_no_secret(backend: Backend) {
    let (app, _) = acme(backend).await;
    let mut native = client(
        &app,
        "acme",
        ClientOptions {
            app_type: pb::ApplicationType::Native,
            ..WEB
        },
    )
    .await;
    assert!(native.secret.is_none());
    native.redirect_uri = "http://127.0.0.1:53124/callback".into();
    let (code, verifier) = code_for(&app, &native, "alice").await;
    let (status, body) = exchange(&app, &native, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["id_token"].is_string() && body["access_token"].is_string(),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    app.stop().await;
}

async fn a_second_authorization_gets_a_code_from_the_session_without_signing_in_again(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(&web.redirect_uri);
    let pkce = || PkceCodeChallenge::new_random_sha256();
    let (first_challenge, first_verifier) = pkce();
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", first_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let first = redirect_params(&browser.authorize(&url, "alice").await);
    let (status, first_tokens) = exchange(
        &app,
        &web,
        param(&first, "code").expect("code"),
        first_verifier.secret(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first_tokens}");

    let (challenge, verifier) = pkce();
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
            ("state", "second"),
        ],
    );
    let silent = browser.open(&url).await;
    let params = redirect_params(&silent);
    assert_eq!(param(&params, "state"), Some("second"));
    let (status, second_tokens) = exchange(
        &app,
        &web,
        param(&params, "code").expect("a code without UI"),
        verifier.secret(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second_tokens}");
    let (a, b) = (
        claims_of(first_tokens["id_token"].as_str().expect("id")),
        claims_of(second_tokens["id_token"].as_str().expect("id")),
    );
    assert_eq!(
        (&a["sub"], &a["sid"], &a["auth_time"]),
        (&b["sub"], &b["sid"], &b["auth_time"])
    );

    // prompt=login asks again, even with a session.
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "login"),
        ],
    );
    let page = browser.open(&url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.url().path().ends_with("/login"));
    app.stop().await;
}

async fn a_reused_authorization_code_is_invalid_grant_and_concurrent_redemptions_have_one_winner(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (code, verifier) = code_for(&app, &web, "alice").await;
    let (status, body) = exchange(&app, &web, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_invalid_grant(&exchange(&app, &web, &code, &verifier).await);

    let (code, verifier) = code_for(&app, &web, "alice").await;
    let app = Arc::new(app);
    let web = Arc::new(web);
    let racers: Vec<_> = (0..10)
        .map(|_| {
            let (app, web, code, verifier) =
                (app.clone(), web.clone(), code.clone(), verifier.clone());
            tokio::spawn(async move { exchange(&app, &web, &code, &verifier).await })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.expect("joined"));
    }
    assert_eq!(
        results.iter().filter(|(s, _)| *s == StatusCode::OK).count(),
        1,
        "{results:?}"
    );
    for result in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_invalid_grant(result);
    }
    // However the replays interleaved with the winner, nothing it got still works.
    let (_, won) = results
        .iter()
        .find(|(s, _)| *s == StatusCode::OK)
        .expect("one winner");
    assert_eq!(
        userinfo_status(&app, &won["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_grant(&refresh(&app, &web, &won["refresh_token"]).await);
    Arc::into_inner(app).expect("sole owner").stop().await;
}

async fn the_token_request_must_repeat_the_redirect_uri_of_the_authorization_request(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (code, verifier) = code_for(&app, &web, "alice").await;
    let wrong = token(
        &app,
        &web,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example/cb/"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_invalid_grant(&wrong);
    let (code, verifier) = code_for(&app, &web, "alice").await;
    let (status, body) = token(
        &app,
        &web,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    app.stop().await;
}

async fn an_authorization_code_expires_after_sixty_seconds(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (code, verifier) = code_for(&app, &web, "alice").await;
    app.clock.advance(Duration::from_secs(61));
    assert_invalid_grant(&exchange(&app, &web, &code, &verifier).await);
    app.stop().await;
}

async fn a_code_without_openid_yields_no_id_token_and_its_token_no_userinfo(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "profile"),
        ],
    );
    let params = redirect_params(
        &Browser::new(&web.redirect_uri)
            .authorize(&url, "alice")
            .await,
    );
    let (status, body) = exchange(
        &app,
        &web,
        param(&params, "code").expect("code"),
        verifier.secret(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(body["scope"], "profile");
    let userinfo = http()
        .get(format!("{}/oauth2/userinfo", issuer(&app, "acme")))
        .bearer_auth(body["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), StatusCode::FORBIDDEN);
    assert!(
        userinfo.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("insufficient_scope")
    );
    app.stop().await;
}
