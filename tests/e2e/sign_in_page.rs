//! The sign-in and consent pages as a browser sees them: security headers and the session
//! cookie, CSRF tokens and cross-site posts, one answer for every failed sign-in, and
//! consent denied or given.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, on_both_backends};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;

use crate::oidc_support::{
    Browser, ClientOptions, Form, PASSWORD, WEB, acme, assert_error_page, authorize_url, client,
    exchange, issuer, param, redirect_params, user,
};

on_both_backends!(
    the_sign_in_page_is_hardened_and_the_session_cookie_scoped_to_the_tenant,
    the_sign_in_form_refuses_a_missing_or_foreign_csrf_token_and_cross_site_posts,
    wrong_passwords_unknown_users_and_disabled_users_get_the_same_answer,
    denying_consent_sends_access_denied_and_allowing_it_a_code,
);

async fn the_sign_in_page_is_hardened_and_the_session_cookie_scoped_to_the_tenant(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let web = client(&app, "acme", WEB).await;
    let browser = Browser::new(&web.redirect_uri);
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            (
                "code_challenge",
                PkceCodeChallenge::new_random_sha256().0.as_str(),
            ),
            ("code_challenge_method", "S256"),
            ("login_hint", "alice"),
        ],
    );
    let page = browser.open(&url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.url().path().starts_with("/t/acme/login"),
        "{}",
        page.url()
    );
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert_eq!(
        csp,
        "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self' https://rp.example; frame-ancestors 'none'"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let form = Form::of(page).await;
    assert!(
        form.html.contains("Sign in to Tenant acme"),
        "the tenant's display name"
    );
    assert!(
        form.html.contains(r#"<label for="username">"#)
            && form.html.contains(r#"<label for="password">"#)
    );
    assert!(
        form.html.contains(r#"value="alice""#),
        "login_hint prefills the username"
    );
    assert!(!form.html.contains("<script"), "works without JavaScript");
    assert!(form.value("csrf").len() >= 43);

    let response = browser
        .post(&form, &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("kh_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/t/acme"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    assert!(!session.contains("Secure"), "the test issuer is plain http");
    assert!(!session.contains("Domain"), "{session}");
    app.stop().await;
}

async fn the_sign_in_form_refuses_a_missing_or_foreign_csrf_token_and_cross_site_posts(
    backend: Backend,
) {
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
        ],
    );
    let victim = Browser::new(&web.redirect_uri);
    let attacker = Browser::new(&web.redirect_uri);
    let form = Form::of(victim.open(&url).await).await;
    let attackers_form = Form::of(attacker.open(&url).await).await;
    let credentials = [("username", "alice"), ("password", PASSWORD)];
    let no_session = |response: &reqwest::Response| {
        !response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().is_ok_and(|c| c.starts_with("kh_session=")))
    };

    let without_token = Form {
        hidden: vec![("request".into(), form.value("request").into())],
        action: form.action.clone(),
        html: String::new(),
    };
    let response = victim.post(&without_token, &credentials).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(no_session(&response));
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("This form has expired"),
        "the form is shown again"
    );

    let foreign = Form {
        hidden: vec![
            ("request".into(), form.value("request").into()),
            ("csrf".into(), attackers_form.value("csrf").into()),
        ],
        action: form.action.clone(),
        html: String::new(),
    };
    let response = victim.post(&foreign, &credentials).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(no_session(&response));

    // The victim's pending request replayed from the attacker's cookie jar.
    let replayed = attacker.post(&form, &credentials).await;
    assert_eq!(replayed.status(), StatusCode::FORBIDDEN);
    assert!(no_session(&replayed));

    let cross_site = victim
        .http
        .post(&form.action)
        .header("origin", "https://evil.example")
        .form(&[
            ("request", form.value("request")),
            ("csrf", form.value("csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(no_session(&cross_site));

    // The genuine form still works.
    let ok = victim.post(&form, &credentials).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn wrong_passwords_unknown_users_and_disabled_users_get_the_same_answer(backend: Backend) {
    let (app, _) = acme(backend).await;
    let bob = user(&app, "acme", "bob").await;
    app.users(app.root())
        .update_user(pb::UpdateUserRequest {
            user: Some(pb::User {
                name: bob.name.clone(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["disabled".into()],
            }),
        })
        .await
        .expect("bob disabled");
    let web = client(&app, "acme", WEB).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        &app,
        "acme",
        &web,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );

    let mut answers = Vec::new();
    for (username, password) in [
        ("alice", "wrong password!"),
        ("nobody", PASSWORD),
        ("bob", PASSWORD),
        ("alice", "short"),
    ] {
        let browser = Browser::new(&web.redirect_uri);
        let form = Form::of(browser.open(&url).await).await;
        let response = browser
            .post(&form, &[("username", username), ("password", password)])
            .await;
        let status = response.status();
        let mut headers: Vec<String> = response
            .headers()
            .iter()
            // What differs by nature: the time, the length (the username is echoed), and
            // the id every response carries.
            .filter(|(name, _)| {
                !["date", "content-length", "x-request-id"].contains(&name.as_str())
            })
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
            .collect();
        headers.sort();
        let body = response.text().await.expect("html");
        let body = body
            .replace(form.value("csrf"), "CSRF")
            .replace(form.value("request"), "REQUEST")
            .replace(&format!("value=\"{username}\""), "value=\"USER\"");
        answers.push((status, headers, body));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(
        answers[0]
            .2
            .contains("The username or password is incorrect.")
    );
    for other in &answers[1..] {
        assert_eq!(other, &answers[0]);
    }
    app.stop().await;
}

async fn denying_consent_sends_access_denied_and_allowing_it_a_code(backend: Backend) {
    let (app, _) = acme(backend).await;
    let third_party = client(
        &app,
        "acme",
        ClientOptions {
            first_party: false,
            ..WEB
        },
    )
    .await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = authorize_url(
        &app,
        "acme",
        &third_party,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid email"),
        ],
    );
    for (decision, expected_error) in [("deny", Some("access_denied")), ("allow", None)] {
        let browser = Browser::new(&third_party.redirect_uri);
        let consent = browser
            .sign_in(browser.open(&url).await, "alice", PASSWORD)
            .await;
        assert_eq!(consent.status(), StatusCode::OK);
        assert!(
            consent.url().path().ends_with("/consent"),
            "{}",
            consent.url()
        );
        assert_eq!(consent.headers()["x-frame-options"], "DENY");
        let form = Form::of(consent).await;
        assert!(
            form.html.contains("See your email address"),
            "the scopes are listed"
        );
        let answer = browser.post(&form, &[("decision", decision)]).await;
        let params = redirect_params(&answer);
        assert_eq!(param(&params, "error"), expected_error);
        assert_eq!(param(&params, "state"), Some("xyz"));
        assert_eq!(param(&params, "iss"), Some(issuer(&app, "acme").as_str()));
        if let Some(code) = param(&params, "code") {
            let (status, body) = exchange(&app, &third_party, code, verifier.secret()).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // The form cannot be answered twice.
        let again = browser.post(&form, &[("decision", "allow")]).await;
        assert_error_page(again, StatusCode::BAD_REQUEST).await;
    }
    app.stop().await;
}
