//! Per-application ID token algorithms (`id_token_signed_response_alg`): RS256 unless the
//! application chose ES256 or EdDSA. A real relying party (the `openidconnect` crate),
//! told to expect the application's algorithm, verifies the ID token and its `at_hash`;
//! the token's header names the tenant's active key of that algorithm, as JWKS publishes
//! it. Values the server does not sign with are refused over gRPC.

use keyhaven_tests::assert::violation;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::oidc_support::{
    Browser, Client, WEB, WEB_CALLBACK, acme, client, http, issuer, param, redirect_params,
    register,
};

on_both_backends!(
    applications_that_chose_es256_or_eddsa_get_id_tokens_a_relying_party_verifies_with_that_algorithm,
    applications_sign_id_tokens_rs256_unless_they_choose_otherwise,
    an_id_token_algorithm_the_server_does_not_sign_with_is_refused_naming_the_field,
);

// ---- arrange ---------------------------------------------------------------------------

/// A first-party web application created with `alg` (empty: the default).
async fn web_client_with(app: &TestApp, alg: &str) -> (Client, pb::Application) {
    let response = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/acme".into(),
            application: Some(pb::Application {
                display_name: "Acme Web".into(),
                r#type: pb::ApplicationType::Web as i32,
                scopes: vec!["profile".into()],
                first_party: true,
                id_token_signed_response_alg: alg.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner);
    let response = response.expect("application created");
    let application = response.application.expect("application");
    register(
        app,
        &application.name,
        WEB_CALLBACK,
        pb::Environment::Production,
    )
    .await;
    let client = Client {
        client_id: application.client_id.clone(),
        secret: Some(response.client_secret),
        redirect_uri: WEB_CALLBACK.to_owned(),
    };
    (client, application)
}

async fn set_alg(app: &TestApp, name: &str, alg: &str) -> Result<pb::Application, tonic::Status> {
    app.applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name: name.to_owned(),
                id_token_signed_response_alg: alg.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["id_token_signed_response_alg".into()],
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(app: &TestApp, name: &str) -> pb::Application {
    app.applications(app.root())
        .get_application(pb::GetApplicationRequest {
            name: name.to_owned(),
        })
        .await
        .expect("application")
        .into_inner()
}

// ---- act: a relying party signs alice in ------------------------------------------------

/// Signs alice in to `web` with the `openidconnect` relying party, whose ID token
/// verifier accepts `alg` only; checks the ID token (signature, claims, nonce, at_hash)
/// and returns it raw.
async fn signed_in_id_token(app: &TestApp, web: &Client, alg: CoreJwsSigningAlgorithm) -> String {
    let rp_http = http();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(issuer(app, "acme")).expect("issuer"),
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
    let (url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = Browser::new(&web.redirect_uri)
        .authorize(url.as_str(), "alice")
        .await;
    let params = redirect_params(&callback);
    let code = param(&params, "code").expect("code");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchanged");
    let id_token = tokens.id_token().expect("an ID token");

    let only_alg = rp.id_token_verifier().set_allowed_algs([alg.clone()]);
    let claims = id_token
        .claims(&only_alg, &nonce)
        .expect("the ID token verifies with the application's algorithm");
    assert_eq!(id_token.signing_alg().expect("alg"), &alg);
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        &alg,
        id_token.signing_key(&only_alg).expect("key"),
    )
    .expect("at_hash computed");
    assert_eq!(
        claims.access_token_hash(),
        Some(&at_hash),
        "at_hash uses the hash of {alg:?}"
    );
    let others: Vec<_> = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
    ]
    .into_iter()
    .filter(|a| *a != alg)
    .collect();
    assert!(
        id_token
            .claims(&rp.id_token_verifier().set_allowed_algs(others), &nonce)
            .is_err(),
        "a verifier that does not allow {alg:?} refuses the ID token"
    );
    id_token.to_string()
}

// ---- assert: the header names the active key of the algorithm -------------------------

/// The ID token's header: `alg` as named, `typ: JWT`, and the `kid` of the tenant's
/// active key of that algorithm, published in JWKS with the same `alg`.
async fn assert_signed_by_active_key(app: &TestApp, id_token: &str, alg: &str) {
    let header = jsonwebtoken::decode_header(id_token).expect("JWS header");
    let header = serde_json::to_value(&header).expect("header as JSON");
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some(alg), Some("JWT"))
    );
    let kid = header["kid"].as_str().expect("kid");

    let jwks: Value = http()
        .get(format!("{}/oauth2/jwks", issuer(app, "acme")))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let published = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is published: {jwks}"));
    assert_eq!(published["alg"], alg, "{published}");

    let keys = app
        .signing_keys(app.root())
        .list_signing_keys(pb::ListSigningKeysRequest {
            parent: "tenants/acme".into(),
        })
        .await
        .expect("signing keys")
        .into_inner()
        .signing_keys;
    let active = keys
        .iter()
        .find(|k| k.algorithm == alg && k.state == pb::SigningKeyState::Active as i32)
        .expect("an active key of the algorithm");
    assert_eq!(active.kid, kid, "signed with the active {alg} key");
}

// ---- the tests ---------------------------------------------------------------------------

async fn applications_that_chose_es256_or_eddsa_get_id_tokens_a_relying_party_verifies_with_that_algorithm(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    // ES256 chosen at creation.
    let (es, created) = web_client_with(&app, "ES256").await;
    assert_eq!(created.id_token_signed_response_alg, "ES256");
    let id_token = signed_in_id_token(&app, &es, CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
    assert_signed_by_active_key(&app, &id_token, "ES256").await;

    // EdDSA chosen by an update.
    let ed = client(&app, "acme", WEB).await;
    let name = format!("tenants/acme/applications/{}", ed.client_id);
    let updated = set_alg(&app, &name, "EdDSA").await.expect("updated");
    assert_eq!(updated.id_token_signed_response_alg, "EdDSA");
    assert_eq!(get(&app, &name).await.id_token_signed_response_alg, "EdDSA");
    let id_token = signed_in_id_token(&app, &ed, CoreJwsSigningAlgorithm::EdDsa).await;
    assert_signed_by_active_key(&app, &id_token, "EdDSA").await;

    // After a rotation, the new active key of the algorithm signs (the key cache lives
    // at most 30 seconds).
    app.signing_keys(app.root())
        .rotate_signing_key(pb::RotateSigningKeyRequest {
            parent: "tenants/acme".into(),
            algorithm: "EdDSA".into(),
        })
        .await
        .expect("rotated");
    app.clock.advance(std::time::Duration::from_secs(31));
    let id_token = signed_in_id_token(&app, &ed, CoreJwsSigningAlgorithm::EdDsa).await;
    assert_signed_by_active_key(&app, &id_token, "EdDSA").await;
    app.stop().await;
}

async fn applications_sign_id_tokens_rs256_unless_they_choose_otherwise(backend: Backend) {
    let (app, _) = acme(backend).await;
    let discovery: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer(&app, "acme")
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );

    let (web, created) = web_client_with(&app, "").await;
    assert_eq!(
        created.id_token_signed_response_alg, "RS256",
        "the default, named"
    );
    let id_token =
        signed_in_id_token(&app, &web, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
    assert_signed_by_active_key(&app, &id_token, "RS256").await;

    // Choosing another and then the empty value goes back to the default.
    let name = created.name;
    set_alg(&app, &name, "ES256").await.expect("ES256");
    let reset = set_alg(&app, &name, "").await.expect("reset");
    assert_eq!(reset.id_token_signed_response_alg, "RS256");
    // An update that does not name the field leaves it alone.
    set_alg(&app, &name, "EdDSA").await.expect("EdDSA");
    let renamed = app
        .applications(app.root())
        .update_application(pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                name: name.clone(),
                display_name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("renamed")
        .into_inner();
    assert_eq!(renamed.id_token_signed_response_alg, "EdDSA");
    app.stop().await;
}

async fn an_id_token_algorithm_the_server_does_not_sign_with_is_refused_naming_the_field(
    backend: Backend,
) {
    let (app, _) = acme(backend).await;
    let field = "application.id_token_signed_response_alg";
    for bad in ["HS256", "none", "rs256", "EDDSA", "PS256", " RS256"] {
        let created = app
            .applications(app.root())
            .create_application(pb::CreateApplicationRequest {
                parent: "tenants/acme".into(),
                application: Some(pb::Application {
                    display_name: "Acme Web".into(),
                    r#type: pb::ApplicationType::Web as i32,
                    id_token_signed_response_alg: bad.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        violation(
            created,
            field,
            "expected RS256 (the default), ES256 or EdDSA",
        );
    }
    let listed = app
        .applications(app.root())
        .list_applications(pb::ListApplicationsRequest {
            parent: "tenants/acme".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.applications.is_empty(), "nothing refused was stored");

    let (_, created) = web_client_with(&app, "ES256").await;
    violation(
        set_alg(&app, &created.name, "HS256").await,
        field,
        "unknown value \"HS256\"",
    );
    assert_eq!(
        get(&app, &created.name).await.id_token_signed_response_alg,
        "ES256",
        "a refused update changes nothing"
    );
    app.stop().await;
}
