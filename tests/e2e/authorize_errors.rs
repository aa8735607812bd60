//! What the authorization endpoint refuses: missing or weak PKCE (and the verifier the
//! token endpoint then insists on), unregistered or switched-off redirect URIs, unknown
//! clients and clients of another tenant, and `prompt=none` without a session. Errors that
//! cannot be trusted to go back to the client are an error page; the others redirect with
//! `state` and `iss`.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, on_both_backends};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;

use crate::oidc_support::{
    Browser, Client, ClientOptions, WEB, WEB_CALLBACK, acme, assert_error_page,
    assert_invalid_grant, authorize_url, client, code_for, exchange, http, issuer, param,
    redirect_params, register, token,
};

on_both_backends!(
    pkce_is_required_checked_and_never_downgraded,
    unregistered_or_switched_off_redirect_uris_get_an_error_page_and_no_redirect,
    unknown_clients_and_clients_of_another_tenant_get_an_error_page,
    prompt_none_without_a_session_is_login_required_with_state_and_iss,
);

async fn pkce_is_required_checked_and_never_downgraded(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();

    // At the authorization endpoint: missing, plain, or without a method.
    for extra in [
        vec![],
        vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", challenge.as_str())],
    ] {
        let response = http()
            .get(authorize_url(&app, "acme", &web, &extra))
            .send()
            .await
            .expect("authorize");
        let params = redirect_params(&response);
        assert_eq!(
            param(&params, "error"),
            Some("invalid_request"),
            "{extra:?}: {params:?}"
        );
        assert_eq!(param(&params, "state"), Some("xyz"));
        assert_eq!(param(&params, "iss"), Some(issuer(&app, "acme").as_str()));
        assert_eq!(param(&params, "code"), None);
    }

    // At the token endpoint: wrong or missing verifier.
    let (code, _) = code_for(&app, &web, "alice").await;
    let (_, other_verifier) = PkceCodeChallenge::new_random_sha256();
    assert_invalid_grant(&exchange(&app, &web, &code, other_verifier.secret()).await);
    let (code, _) = code_for(&app, &web, "alice").await;
    assert_invalid_grant(
        &token(
            &app,
            &web,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &web.redirect_uri),
            ],
        )
        .await,
    );

    // Downgrade: a code issued without a challenge is refused with a verifier.
    let legacy = client(
        &app,
        "acme",
        ClientOptions {
            allow_code_without_pkce: true,
            ..WEB
        },
    )
    .await;
    let browser = Browser::new(&legacy.redirect_uri);
    let params = redirect_params(
        &browser
            .authorize(&authorize_url(&app, "acme", &legacy, &[]), "alice")
            .await,
    );
    let code = param(&params, "code").expect("a code without PKCE for this client");
    assert_invalid_grant(&exchange(&app, &legacy, code, other_verifier.secret()).await);
    app.stop().await;
}

async fn unregistered_or_switched_off_redirect_uris_get_an_error_page_and_no_redirect(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let app_name = format!("tenants/acme/applications/{}", web.client_id);
    register(
        &app,
        &app_name,
        "http://localhost:3000/callback",
        pb::Environment::Localhost,
    )
    .await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |uri: &str| {
        let mut extra = pkce.to_vec();
        extra.push(("redirect_uri", uri));
        authorize_url(&app, "acme", &web, &extra)
    };
    // Enabled, the localhost URI works.
    let ok = http()
        .get(with("http://localhost:3000/callback"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert!(
        ok.headers()["location"]
            .to_str()
            .expect("ascii")
            .contains("/t/acme/login?request=")
    );

    for uri in [
        "https://evil.example/cb",
        "https://rp.example/cb/",
        "https://RP.example/cb",
        "https://rp.example/cb?x=1",
    ] {
        let page = assert_error_page(
            http().get(with(uri)).send().await.expect("authorize"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(page.contains("redirect_uri"), "{page}");
    }
    // Even with another error that would otherwise go back to the client.
    let mixed = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "token"),
        ],
    );
    assert_error_page(
        http().get(mixed).send().await.expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // No redirect_uri at all.
    let missing = authorize_url(&app, "acme", &web, &[("redirect_uri", "")]);
    assert_error_page(
        http().get(missing).send().await.expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;

    app.applications(app.root())
        .set_environment_enabled(pb::SetEnvironmentEnabledRequest {
            name: app_name,
            environment: pb::Environment::Localhost as i32,
            enabled: false,
        })
        .await
        .expect("localhost switched off");
    let page = assert_error_page(
        http()
            .get(with("http://localhost:3000/callback"))
            .send()
            .await
            .expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(page.contains("switched off"), "{page}");
    // The production URI of the same client is unaffected.
    let still = http()
        .get(with(WEB_CALLBACK))
        .send()
        .await
        .expect("authorize");
    assert_eq!(still.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn unknown_clients_and_clients_of_another_tenant_get_an_error_page(backend: Backend) {
    let (app, _) = acme(backend).await;
    app.create_tenant("globex").await;
    let web = client(&app, "acme", WEB).await;
    let unknown = Client {
        client_id: "no-such-client".into(),
        secret: None,
        redirect_uri: WEB_CALLBACK.into(),
    };
    assert_error_page(
        http()
            .get(authorize_url(&app, "acme", &unknown, &[]))
            .send()
            .await
            .expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let no_client = authorize_url(&app, "acme", &web, &[("client_id", "")]);
    assert_error_page(
        http().get(no_client).send().await.expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // acme's client at globex is as unknown as one that never existed.
    let page = assert_error_page(
        http()
            .get(authorize_url(&app, "globex", &web, &[]))
            .send()
            .await
            .expect("authorize"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(page.contains("not a client of this tenant"), "{page}");
    // An unknown tenant is not found.
    let nowhere = http()
        .get(authorize_url(&app, "nowhere", &web, &[]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    assert!(nowhere.headers().get("location").is_none());
    app.stop().await;
}

async fn prompt_none_without_a_session_is_login_required_with_state_and_iss(backend: Backend) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
            ("state", "a+b/c=&%"),
        ],
    );
    let response = http().get(url).send().await.expect("authorize");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with("https://rp.example/cb?"), "{location}");
    let params = redirect_params(&response);
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "state"), Some("a+b/c=&%"));
    assert_eq!(param(&params, "iss"), Some(issuer(&app, "acme").as_str()));
    assert!(param(&params, "error_description").is_some_and(|d| {
        d.bytes()
            .all(|b| b == b' ' || (b.is_ascii_graphic() && b != b'"' && b != b'\\'))
    }));
    app.stop().await;
}
