//! The sign-in and consent pages in a real browser: headless Chromium driven through
//! chromedriver (Debian packages `chromium` and `chromium-driver`). A person reads the
//! page, finds the fields by their labels, types, clicks, and lands back at the relying
//! party, whose callback is a tiny listener on a loopback port. This is what the other
//! modules cannot show: that Chrome itself lets the flow through (the Content-Security-
//! Policy's `form-action` also governs the redirect after a form post, and the `Origin`
//! a browser sends with a form post depends on the referrer policy).
//!
//! Without chromedriver the tests are skipped with a note, except under `CI=true`, where
//! that is a failure.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use keyhaven_tests::proto as pb;
use keyhaven_tests::{Backend, TestApp, on_both_backends};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::oidc_support::{ClientOptions, PASSWORD, WEB, acme, client, http, issuer, register};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page or the callback may take to appear.
const PATIENCE: Duration = Duration::from_secs(15);

on_both_backends!(
    a_person_signs_in_in_a_real_browser_after_a_wrong_password_and_allows_a_third_party_app,
    a_person_who_denies_consent_in_a_real_browser_sends_access_denied_to_the_app,
);

async fn a_person_signs_in_in_a_real_browser_after_a_wrong_password_and_allows_a_third_party_app(
    backend: Backend,
) {
    in_browser(move |browser| async move {
        let (app, alice) = acme(backend).await;
        let mut rp = RelyingParty::register(&app).await;
        let authorization = rp.authorize();

        browser
            .goto(&authorization.url)
            .await
            .expect("the authorization URL");
        assert_eq!(title(&browser).await, "Sign in - Tenant acme");
        assert_eq!(text(&browser, "h1").await, "Sign in to Tenant acme");
        assert_eq!(text(&browser, ".lead").await, "to continue to Acme Web");
        let username = field_labelled(&browser, "Username").await;
        let password = field_labelled(&browser, "Password").await;
        assert_eq!(attr(&username, "type").await, "text");
        assert_eq!(attr(&username, "autocomplete").await, "username");
        assert_eq!(attr(&password, "type").await, "password");
        assert_eq!(attr(&password, "autocomplete").await, "current-password");
        assert!(username.is_displayed().await.expect("displayed"));

        username.send_keys("alice").await.expect("typed");
        password.send_keys("wrong password!").await.expect("typed");
        click(&browser, "Sign in").await;
        let alert = browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("[role=alert]"))
            .await
            .expect("an error on the page");
        assert_eq!(
            alert.text().await.expect("text"),
            "The username or password is incorrect."
        );
        assert_eq!(title(&browser).await, "Sign in - Tenant acme");
        let username = field_labelled(&browser, "Username").await;
        let password = field_labelled(&browser, "Password").await;
        assert_eq!(value(&username).await, "alice", "the username is kept");
        assert_eq!(value(&password).await, "", "the password is not");
        let alert_id = attr(&alert, "id").await;
        assert!(!alert_id.is_empty(), "the error can be pointed at");
        for field in [&username, &password] {
            assert_eq!(
                attr(field, "aria-describedby").await,
                alert_id,
                "the fields point at the error"
            );
        }

        password.send_keys(PASSWORD).await.expect("typed");
        click(&browser, "Sign in").await;
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("ul.scopes"))
            .await
            .expect("the consent page");
        assert_eq!(title(&browser).await, "Allow access - Tenant acme");
        assert_eq!(
            text(&browser, "h1").await,
            "Acme Web wants to access your Tenant acme account"
        );
        assert_eq!(text(&browser, ".lead").await, "Signed in as alice");
        let mut scopes = Vec::new();
        for item in browser
            .find_all(Locator::Css("ul.scopes li"))
            .await
            .expect("scopes")
        {
            scopes.push(item.text().await.expect("text"));
        }
        assert_eq!(
            scopes,
            [
                "Know who you are when you sign in openid",
                "See your name and username profile",
                "See your email address email",
            ]
        );

        click(&browser, "Allow").await;
        let params = rp.callback(&browser).await;
        assert_eq!(
            param(&params, "state"),
            Some(authorization.state.secret().as_str())
        );
        assert_eq!(param(&params, "iss"), Some(issuer(&app, "acme").as_str()));
        assert_eq!(param(&params, "error"), None);
        let code = param(&params, "code").expect("a code").to_owned();
        let subject = rp.sign_in(authorization, &code).await;
        assert_eq!(Some(subject.as_str()), alice.name.rsplit('/').next());
        app.stop().await;
    })
    .await;
}

async fn a_person_who_denies_consent_in_a_real_browser_sends_access_denied_to_the_app(
    backend: Backend,
) {
    in_browser(move |browser| async move {
        let (app, _) = acme(backend).await;
        let mut rp = RelyingParty::register(&app).await;
        let authorization = rp.authorize();
        browser
            .goto(&authorization.url)
            .await
            .expect("the authorization URL");
        field_labelled(&browser, "Username")
            .await
            .send_keys("alice")
            .await
            .expect("typed");
        field_labelled(&browser, "Password")
            .await
            .send_keys(PASSWORD)
            .await
            .expect("typed");
        click(&browser, "Sign in").await;
        browser
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("ul.scopes"))
            .await
            .expect("the consent page");

        click(&browser, "Deny").await;
        let params = rp.callback(&browser).await;
        assert_eq!(param(&params, "error"), Some("access_denied"));
        assert_eq!(
            param(&params, "state"),
            Some(authorization.state.secret().as_str())
        );
        assert_eq!(param(&params, "iss"), Some(issuer(&app, "acme").as_str()));
        assert_eq!(param(&params, "code"), None);
        app.stop().await;
    })
    .await;
}

// ---- the relying party: openidconnect, with its callback on a loopback port ----------

/// A third-party web application of tenant `acme` whose callback is served here.
struct RelyingParty {
    oidc: Oidc,
    callback: Callback,
}

type Oidc = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An authorization request as the relying party remembers it.
struct Authorization {
    url: String,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

impl RelyingParty {
    async fn register(app: &TestApp) -> RelyingParty {
        let callback = Callback::listen().await;
        let third_party = client(
            app,
            "acme",
            ClientOptions {
                first_party: false,
                ..WEB
            },
        )
        .await;
        register(
            app,
            &format!("tenants/acme/applications/{}", third_party.client_id),
            &callback.uri,
            pb::Environment::Localhost,
        )
        .await;
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(issuer(app, "acme")).expect("issuer"),
            &http(),
        )
        .await
        .expect("discovery");
        let oidc = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(third_party.client_id),
            third_party.secret.map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(callback.uri.clone()).expect("redirect URI"));
        RelyingParty { oidc, callback }
    }

    /// A fresh authorization request for `openid profile email` with PKCE and a nonce.
    fn authorize(&self) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .oidc
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        Authorization {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// The query the browser brought to the callback, once the callback has answered and
    /// the browser shows its page.
    async fn callback(&mut self, browser: &Client) -> Vec<(String, String)> {
        let target = tokio::time::timeout(PATIENCE, self.callback.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("the browser never reached {}", self.callback.uri))
            .expect("the callback listener runs");
        let arrived = reqwest::Url::parse(&self.callback.uri)
            .expect("callback URI")
            .join(&target)
            .expect("request target");
        browser
            .wait()
            .at_most(PATIENCE)
            .for_url(&arrived)
            .await
            .expect("the browser shows the callback page");
        assert_eq!(text(browser, "h1").await, "Back at the application");
        arrived
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// Exchanges `code` and verifies the ID token (signature, audience, nonce); its subject.
    async fn sign_in(&self, authorization: Authorization, code: &str) -> String {
        let tokens = self
            .oidc
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .expect("token endpoint known")
            .set_pkce_verifier(authorization.verifier)
            .request_async(&http())
            .await
            .expect("code exchanged");
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&self.oidc.id_token_verifier(), &authorization.nonce)
            .expect("the ID token verifies");
        claims.subject().as_str().to_owned()
    }
}

/// The relying party's callback: answers every request with a small page and passes
/// the request target of each `/callback` request on.
struct Callback {
    uri: String,
    requests: mpsc::Receiver<String>,
}

impl Callback {
    async fn listen() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let uri = format!(
            "http://127.0.0.1:{}/callback",
            listener.local_addr().expect("addr").port()
        );
        let (sender, requests) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let page =
                        "<!doctype html><title>Example app</title><h1>Back at the application</h1>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    if target.starts_with("/callback") {
                        let _ = sender.send(target).await;
                    }
                });
            }
        });
        Callback { uri, requests }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ---- what a person sees and does ---------------------------------------------------

async fn title(browser: &Client) -> String {
    browser.title().await.expect("title")
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .expect("text")
}

async fn attr(element: &Element, name: &str) -> String {
    element
        .attr(name)
        .await
        .expect("attribute")
        .unwrap_or_default()
}

/// What a field holds now (the property, not the attribute the page was served with).
async fn value(element: &Element) -> String {
    element
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

/// The field a `<label>` with this text is for, as a screen reader finds it.
async fn field_labelled(browser: &Client, label: &str) -> Element {
    let label_element = browser
        .find(Locator::XPath(&format!(
            "//label[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("a label {label:?}: {e}"));
    let id = attr(&label_element, "for").await;
    assert!(!id.is_empty(), "the label {label:?} names its field");
    browser
        .find(Locator::Id(&id))
        .await
        .unwrap_or_else(|e| panic!("the field of label {label:?}: {e}"))
}

async fn click(browser: &Client, button: &str) {
    browser
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{button}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("a button {button:?}: {e}"))
        .click()
        .await
        .expect("clicked");
}

// ---- the browser: chromedriver and headless Chromium --------------------------------

/// Runs `scenario` in a fresh headless Chromium, and quits the browser afterwards even
/// when the scenario panics. Skips when chromedriver is not installed (outside CI).
async fn in_browser<F, Fut>(scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !installed() {
        return;
    }
    let chrome = Chrome::launch().await;
    let outcome = tokio::spawn(scenario(chrome.client.clone())).await;
    chrome.quit().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Whether chromedriver and Chromium are here; under `CI=true` their absence is a failure,
/// so CI cannot pass by skipping the browser.
fn installed() -> bool {
    let installed = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !installed {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{CHROMEDRIVER} and {CHROMIUM} must be installed when CI=true \
             (Debian packages chromium and chromium-driver, installed by .ci/run)"
        );
        eprintln!(
            "{CHROMEDRIVER} or {CHROMIUM} missing: browser test not run \
             (apt-get install chromium chromium-driver)"
        );
    }
    installed
}

struct Chrome {
    driver: tokio::process::Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Chrome {
    async fn launch() -> Chrome {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_until_ready(&webdriver).await;

        let profile = tempfile::tempdir().expect("profile dir");
        let options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1024,768",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("a Chromium session");
        Chrome {
            driver,
            client,
            _profile: profile,
        }
    }

    /// Ends the session (chromedriver quits Chromium), then chromedriver.
    async fn quit(mut self) {
        if let Err(error) = self.client.close().await {
            eprintln!("closing the browser: {error}");
        }
        let _ = self.driver.kill().await;
    }
}

async fn wait_until_ready(webdriver: &str) {
    let status = format!("{webdriver}/status");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(response) = http().get(&status).send().await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && body["value"]["ready"] == true
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not answer {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
