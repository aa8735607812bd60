//! A browser and the web application it signs in to, from the outside: a cookie jar of
//! its own, redirects looked at rather than followed (the redirect URI is served by no
//! one), and what the relying party does with the code (RFC 6749 §4.1, RFC 7636 S256).

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

use crate::load::{Failure, successful};

/// The confidential web application the browser signs in to.
pub struct WebApp {
    pub client_id: String,
    pub secret: String,
    pub redirect_uri: String,
}

/// A user of the tenant and the password it signs in with.
pub struct User {
    pub username: String,
    pub password: String,
}

/// The tokens of a token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

/// One browser: cheap to clone, clones share its cookies and its connection.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    issuer: Arc<str>,
    app: Arc<WebApp>,
}

impl Browser {
    pub fn new(issuer: &str, app: Arc<WebApp>) -> Result<Self, Failure> {
        Self::from_address(issuer, app, None)
    }

    /// A browser whose connections come from `address` (a loopback address other than
    /// 127.0.0.1, to be a client of its own to the per-address sign-in throttle).
    pub fn from_address(
        issuer: &str,
        app: Arc<WebApp>,
        address: Option<IpAddr>,
    ) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(address)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            issuer: issuer.into(),
            app,
        })
    }

    /// Signs `user` in through the sign-in page: the authorization request is sent to
    /// the page, the page's form is posted, and the answer is the redirect to the client.
    pub async fn sign_in(&self, user: &User) -> Result<(), Failure> {
        let request = AuthorizationRequest::new("openid")?;
        let to_page = self
            .http
            .get(request.url(self)?)
            .send()
            .await
            .map_err(text)?;
        let page_url = location(&to_page, StatusCode::SEE_OTHER)?;
        let page = successful(self.http.get(page_url).send().await.map_err(text)?).await?;
        let form = Form::of(page).await?;
        let answer = self
            .http
            .post(form.action)
            .form(&[
                ("request", form.request.as_str()),
                ("csrf", form.csrf.as_str()),
                ("username", user.username.as_str()),
                ("password", user.password.as_str()),
            ])
            .send()
            .await
            .map_err(text)?;
        request.code_from(self, &answer).map(drop)
    }

    /// The whole flow for a signed-in user: the authorization request answered at once
    /// with a code, then the code exchanged for tokens.
    pub async fn code_flow(&self, scope: &str) -> Result<Tokens, Failure> {
        let request = AuthorizationRequest::new(scope)?;
        let answer = self
            .http
            .get(request.url(self)?)
            .send()
            .await
            .map_err(text)?;
        let code = request.code_from(self, &answer)?;
        let tokens = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &self.app.redirect_uri),
                ("code_verifier", &request.verifier),
            ])
            .await?;
        if scope.split(' ').any(|s| s == "openid") && tokens.id_token.is_none() {
            return Err("no id_token for an openid request".into());
        }
        Ok(tokens)
    }

    /// RFC 6749 §6: the next tokens, with the refresh token that replaces `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Failure> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// OIDC Core §5.3: the user's claims for `access_token`.
    pub async fn userinfo(&self, access_token: &str) -> Result<(), Failure> {
        let response = self
            .http
            .get(format!("{}/oauth2/userinfo", self.issuer))
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(text)?;
        let claims: serde_json::Value = successful(response).await?.json().await.map_err(text)?;
        match claims["sub"].as_str() {
            Some(_) => Ok(()),
            None => Err(format!("userinfo without sub: {claims}")),
        }
    }

    /// A token request authenticated with client_secret_basic.
    async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, Failure> {
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.issuer))
            .basic_auth(&self.app.client_id, Some(&self.app.secret))
            .form(form)
            .send()
            .await
            .map_err(text)?;
        let body: serde_json::Value = successful(response).await?.json().await.map_err(text)?;
        let member = |name: &str| body[name].as_str().map(str::to_owned);
        Ok(Tokens {
            access_token: member("access_token")
                .ok_or_else(|| format!("no access_token in {body}"))?,
            refresh_token: member("refresh_token"),
            id_token: member("id_token"),
        })
    }
}

/// An authorization request with fresh `state`, `nonce` and PKCE verifier.
struct AuthorizationRequest {
    scope: String,
    state: String,
    nonce: String,
    verifier: String,
}

impl AuthorizationRequest {
    fn new(scope: &str) -> Result<Self, Failure> {
        Ok(Self {
            scope: scope.to_owned(),
            state: random(16)?,
            nonce: random(16)?,
            // 32 random bytes: the 43 characters RFC 7636 §4.1 recommends.
            verifier: random(32)?,
        })
    }

    fn url(&self, browser: &Browser) -> Result<Url, Failure> {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()));
        let mut url = Url::parse(&format!("{}/oauth2/authorize", browser.issuer)).map_err(text)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &browser.app.client_id)
            .append_pair("redirect_uri", &browser.app.redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// The code of the redirect to the client that answers this request (RFC 6749
    /// §4.1.2), checked to be for this request.
    fn code_from(&self, browser: &Browser, answer: &reqwest::Response) -> Result<String, Failure> {
        let callback = location(answer, StatusCode::SEE_OTHER)?;
        if !callback.as_str().starts_with(&browser.app.redirect_uri) {
            return Err(format!("redirected to {callback}, not to the client"));
        }
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            return Err(format!(
                "authorization error {error}: {}",
                param("error_description").unwrap_or_default()
            ));
        }
        if param("state").as_deref() != Some(self.state.as_str()) {
            return Err("the redirect does not carry the request's state".into());
        }
        param("code").ok_or_else(|| format!("no code in {callback}"))
    }
}

/// The target of a redirect with `status`, resolved against the request's URL.
fn location(response: &reqwest::Response, status: StatusCode) -> Result<Url, Failure> {
    if response.status() != status {
        return Err(format!(
            "{} from {}, expected {status}",
            response.status(),
            response.url().path()
        ));
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("a redirect without a Location")?;
    response.url().join(location).map_err(text)
}

/// The sign-in page's form: where it posts and its hidden fields.
struct Form {
    action: Url,
    request: String,
    csrf: String,
}

impl Form {
    async fn of(page: reqwest::Response) -> Result<Form, Failure> {
        let url = page.url().clone();
        let html = page.text().await.map_err(text)?;
        let form = html.find("<form").map(|i| &html[i..]).ok_or("no form")?;
        let tag = &form[..form.find('>').ok_or("an unclosed form tag")?];
        let action = quoted_after(tag, "action=\"").ok_or("a form without an action")?;
        let hidden = |name: &str| {
            quoted_after(form, &format!("name=\"{name}\" value=\""))
                .ok_or_else(|| format!("no hidden field {name}"))
        };
        Ok(Form {
            action: url.join(action).map_err(text)?,
            request: hidden("request")?.to_owned(),
            csrf: hidden("csrf")?.to_owned(),
        })
    }
}

/// The text between `marker` and the next `"`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let end = start + text[start..].find('"')?;
    Some(&text[start..end])
}

/// `bytes` random bytes, base64url.
fn random(bytes: usize) -> Result<String, Failure> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(text)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn text(e: impl std::fmt::Display) -> Failure {
    e.to_string()
}
