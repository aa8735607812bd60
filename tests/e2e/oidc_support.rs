//! Shared by the authorization-code-flow modules (`code_flow`, `authorize_errors`,
//! `sign_in_page`): the fixtures arranged through the control plane, a "browser" with a
//! cookie jar that follows redirects until the client's callback, and a hand-made relying
//! party for the cases a real one would refuse to produce.

use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp};
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use serde_json::Value;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const WEB_CALLBACK: &str = "https://rp.example/cb";
const LOOPBACK_CALLBACK: &str = "http://127.0.0.1/callback";

// ---- arrange: through the control plane ----------------------------------------------

pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) redirect_uri: String,
}

#[derive(Clone, Copy)]
pub(crate) struct ClientOptions {
    pub(crate) app_type: pb::ApplicationType,
    pub(crate) first_party: bool,
    pub(crate) allow_code_without_pkce: bool,
}

pub(crate) const WEB: ClientOptions = ClientOptions {
    app_type: pb::ApplicationType::Web,
    first_party: true,
    allow_code_without_pkce: false,
};

pub(crate) async fn client(app: &TestApp, tenant: &str, options: ClientOptions) -> Client {
    let response = app
        .applications(app.root())
        .create_application(pb::CreateApplicationRequest {
            parent: format!("tenants/{tenant}"),
            application: Some(pb::Application {
                display_name: "Acme Web".into(),
                r#type: options.app_type as i32,
                scopes: vec!["profile".into(), "email".into()],
                first_party: options.first_party,
                allow_code_without_pkce: options.allow_code_without_pkce,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("application")
        .into_inner();
    let application = response.application.expect("application");
    let (uri, environment) = match options.app_type {
        pb::ApplicationType::Web => (WEB_CALLBACK, pb::Environment::Production),
        _ => (LOOPBACK_CALLBACK, pb::Environment::Localhost),
    };
    register(app, &application.name, uri, environment).await;
    Client {
        client_id: application.client_id,
        secret: (!response.client_secret.is_empty()).then_some(response.client_secret),
        redirect_uri: uri.to_owned(),
    }
}

pub(crate) async fn register(
    app: &TestApp,
    application: &str,
    uri: &str,
    environment: pb::Environment,
) {
    app.applications(app.root())
        .create_redirect_uri(pb::CreateRedirectUriRequest {
            parent: application.to_owned(),
            redirect_uri: Some(pb::RedirectUri {
                uri: uri.to_owned(),
                purpose: pb::RedirectUriPurpose::Callback as i32,
                environment: environment as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("redirect URI");
}

pub(crate) async fn user(app: &TestApp, tenant: &str, username: &str) -> pb::User {
    app.users(app.root())
        .create_user(pb::CreateUserRequest {
            parent: format!("tenants/{tenant}"),
            user: Some(pb::User {
                username: username.into(),
                email: format!("{username}@example.com"),
                given_name: "Alice".into(),
                family_name: "Liddell".into(),
                ..Default::default()
            }),
            password: PASSWORD.into(),
        })
        .await
        .expect("user")
        .into_inner()
}

/// A tenant `acme` with user `alice`.
pub(crate) async fn acme(backend: Backend) -> (TestApp, pb::User) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("acme").await;
    let alice = user(&app, "acme", "alice").await;
    (app, alice)
}

pub(crate) fn issuer(app: &TestApp, tenant: &str) -> String {
    format!("{}/t/{tenant}", app.public_url)
}

// ---- the browser ---------------------------------------------------------------------

/// A browser: keeps cookies, follows redirects until one leads to `stop_at` (the
/// client's callback, which nothing serves here) and hands that redirect back.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
}

impl Browser {
    pub(crate) fn new(stop_at: &str) -> Self {
        let stop_at = stop_at.to_owned();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().as_str().starts_with(&stop_at) {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(policy)
            .build()
            .expect("browser");
        Self { http }
    }

    pub(crate) async fn open(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("page")
    }

    /// Fills the form of `page` with these credentials and posts it.
    pub(crate) async fn sign_in(
        &self,
        page: reqwest::Response,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let form = Form::of(page).await;
        self.post(&form, &[("username", username), ("password", password)])
            .await
    }

    /// Posts `form` with its hidden fields and `fields`.
    pub(crate) async fn post(&self, form: &Form, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut body: Vec<(String, String)> = form.hidden.clone();
        body.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.http
            .post(&form.action)
            .form(&body)
            .send()
            .await
            .expect("form post")
    }

    /// From the authorization URL through sign-in (and consent, if asked) to the
    /// redirect to the client.
    pub(crate) async fn authorize(&self, url: &str, username: &str) -> reqwest::Response {
        let page = self.open(url).await;
        assert_eq!(page.status(), StatusCode::OK, "the sign-in page");
        let mut response = self.sign_in(page, username, PASSWORD).await;
        if response.status() == StatusCode::OK && response.url().path().ends_with("/consent") {
            let form = Form::of(response).await;
            response = self.post(&form, &[("decision", "allow")]).await;
        }
        response
    }
}

/// The first form of a page: where it posts and its hidden fields.
pub(crate) struct Form {
    pub(crate) action: String,
    pub(crate) hidden: Vec<(String, String)>,
    pub(crate) html: String,
}

impl Form {
    pub(crate) async fn of(page: reqwest::Response) -> Form {
        let url = page.url().clone();
        let html = page.text().await.expect("html");
        let action = attribute(&html, "<form", "action").expect("a form with an action");
        let hidden = ["request", "csrf"]
            .iter()
            .filter_map(|name| hidden_value(&html, name).map(|v| ((*name).to_owned(), v)))
            .collect();
        Form {
            action: url.join(&action).expect("action URL").to_string(),
            hidden,
            html,
        }
    }

    pub(crate) fn value(&self, name: &str) -> &str {
        self.hidden
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .expect("hidden field")
    }
}

fn attribute(html: &str, tag: &str, name: &str) -> Option<String> {
    let start = html.find(tag)?;
    let tag_end = start + html[start..].find('>')?;
    let element = &html[start..tag_end];
    let key = format!("{name}=\"");
    let value_start = element.find(&key)? + key.len();
    let value_end = value_start + element[value_start..].find('"')?;
    Some(element[value_start..value_end].to_owned())
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// The query of a redirect's `Location`.
pub(crate) fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii location");
    let url = reqwest::Url::parse(location).expect("absolute location");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ---- the relying party, by hand for the negative cases ------------------------------

/// A code for `client` as `username`, with the PKCE verifier that goes with it.
pub(crate) async fn code_for(app: &TestApp, client: &Client, username: &str) -> (String, String) {
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
    let response = Browser::new(&client.redirect_uri)
        .authorize(&url, username)
        .await;
    let params = redirect_params(&response);
    let code = param(&params, "code").expect("a code").to_owned();
    (code, verifier.secret().to_owned())
}

/// An authorization URL for `client` (scope `openid profile`, state `xyz`), with `extra`
/// parameters; an extra parameter with an empty value is dropped.
pub(crate) fn authorize_url(
    app: &TestApp,
    tenant: &str,
    client: &Client,
    extra: &[(&str, &str)],
) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", "xyz"),
        ("nonce", "n-0S6_WzA2Mj"),
    ];
    for (name, value) in extra {
        params.retain(|(k, _)| k != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let query = reqwest::Url::parse_with_params("http://x/", &params).expect("query");
    format!(
        "{}/oauth2/authorize?{}",
        issuer(app, tenant),
        query.query().unwrap_or_default()
    )
}

pub(crate) async fn token(
    app: &TestApp,
    client: &Client,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = http().post(format!("{}/oauth2/token", issuer(app, "acme")));
    let mut body: Vec<(&str, &str)> = form.to_vec();
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.client_id, Some(secret)),
        None => body.push(("client_id", &client.client_id)),
    }
    let response = request.form(&body).send().await.expect("token request");
    (response.status(), response.json().await.expect("json"))
}

pub(crate) async fn exchange(
    app: &TestApp,
    client: &Client,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// The claims of a JWT, unverified: for looking at what a token says.
pub(crate) fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("json")
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[track_caller]
pub(crate) fn assert_invalid_grant((status, body): &(StatusCode, Value)) {
    assert_eq!(
        (*status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

/// An error page: HTML, the given status, and no redirect anywhere.
pub(crate) async fn assert_error_page(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().get("location").is_none(),
        "an error page never redirects"
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html")),
        "{:?}",
        response.headers()
    );
    response.text().await.expect("html")
}
