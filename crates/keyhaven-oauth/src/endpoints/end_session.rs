//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0), GET and POST alike
//! (§2), and the signed-out page it leads to.
//!
//! A valid `id_token_hint` (this tenant's signature, expired or not) names the session
//! and the client; its session ends at once when it is the browser's own or the browser
//! shows none. Anything else asks the user to confirm with a form only this browser can
//! post (§2 "MUST ask the End-User"). Ending a session revokes everything issued in it
//! (`sessions::end`). A `post_logout_redirect_uri` is followed only when it is a
//! registered, enabled `post_logout` URI of that client (§3); a bad one, or a bad hint,
//! gets an error page and never a redirect (§4).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use keyhaven_core::authorize::{Client, MAX_VALUE_LEN};
use keyhaven_core::jose;
use keyhaven_core::logout::{self, Step};
use keyhaven_core::model::Tenant;
use keyhaven_core::opaque;
use keyhaven_core::post_logout::PostLogoutRedirect;
use keyhaven_core::{ClientId, Timestamp};
use keyhaven_store::revocations::Reason;
use keyhaven_store::sessions;
use serde::Deserialize;
use tracing::Instrument;

use crate::browser::Browser;
use crate::cache::{CachedClient, CachedTenant};
use crate::error::PageError;
use crate::form;
use crate::id_token;
use crate::keys::TenantKeys;
use crate::pages;
use crate::state::OAuthState;
use crate::tenant;

/// What the form token of the confirmation form is for.
const PURPOSE: &str = "logout";
/// The form field that marks a post as the user's confirmation, not a relying party's
/// request.
const CONFIRM: &str = "confirm";

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    tenant_name: &'a str,
    app_name: Option<&'a str>,
    username: Option<&'a str>,
    action: &'a str,
    fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct SignedOutPage<'a> {
    tenant_name: &'a str,
}

/// `GET|POST {issuer}/oauth2/logout`.
pub async fn end_session(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let span = tracing::info_span!(
        "end_session",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let raw = read_params(&method, &headers, query.as_deref(), &body)?;
        let confirmed = method == Method::POST && raw.confirm;
        if confirmed && !pages::same_origin(&headers, &state.public_url) {
            return Err(PageError::Forbidden(
                "Sign-out forms are only accepted from this site.".into(),
            ));
        }
        let now = state.now();
        let request = LogoutRequest::parse(&state, &tenant, &raw, now).await?;
        if let Some(client) = &request.client {
            tracing::Span::current().record("client", client.app.client_id.as_str());
        }
        let mut browser = Browser::new(&state, &tenant, jar);
        let current = browser.session(&state, &tenant, now).await?;
        let current_sid = current.as_ref().map(|(s, _)| s.id.clone());

        if confirmed {
            let context = current_sid.as_deref().unwrap_or_default();
            let presented = raw.csrf.as_deref().unwrap_or_default();
            let matches = browser
                .binding()
                .is_some_and(|b| opaque::form_token_matches(b, PURPOSE, context, presented));
            if !matches {
                return Err(PageError::Forbidden(
                    "This sign-out form has expired or was not sent from this page. Sign out again from the application.".into(),
                ));
            }
            let ending = [current_sid.as_deref(), request.hint_sid()];
            return sign_out(&state, &tenant, browser, &ending, request.redirect(), now).await;
        }

        match logout::step(request.hint_sid(), current_sid.as_deref()) {
            Step::EndNow => {
                sign_out(&state, &tenant, browser, &[request.hint_sid()], request.redirect(), now)
                    .await
            }
            Step::Confirm => {
                browser.ensure_binding(&state);
                let binding = browser.binding().unwrap_or_default().to_owned();
                let context = current_sid.as_deref().unwrap_or_default();
                let mut fields = vec![("csrf", opaque::form_token(&binding, PURPOSE, context))];
                fields.extend(raw.forwarded());
                let action = format!("{}/oauth2/logout", browser.path());
                let html = pages::render(&ConfirmPage {
                    tenant_name: tenant.display_name.as_str(),
                    app_name: request.client.as_ref().map(|c| c.app.display_name.as_str()),
                    username: current.as_ref().map(|(_, u)| u.username.as_str()),
                    action: &action,
                    fields,
                })?;
                let mut response = Html(html).into_response();
                let target = request
                    .post_logout
                    .as_ref()
                    .and_then(|r| pages::form_target(r.as_str()));
                pages::harden(&mut response, target.as_deref());
                Ok((browser.into_jar(), response).into_response())
            }
        }
    }
    .instrument(span)
    .await
}

/// `GET {issuer}/logged-out`: where a logout without a redirect ends, so that reloading
/// it posts nothing again.
pub async fn signed_out(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let tenant = tenant::resolve(&state, &slug).await?;
    let html = pages::render(&SignedOutPage {
        tenant_name: tenant.display_name.as_str(),
    })?;
    let mut response = Html(html).into_response();
    pages::harden(&mut response, None);
    Ok(response)
}

/// Ends the sessions named (each revokes what was issued in it), expires the browser's
/// session cookie, and sends the browser on: to the client with its `state`, or to the
/// signed-out page.
async fn sign_out(
    state: &OAuthState,
    tenant: &Tenant,
    mut browser: Browser,
    sids: &[Option<&str>],
    redirect: Option<String>,
    now: Timestamp,
) -> Result<Response, PageError> {
    let mut ended = Vec::new();
    for sid in sids.iter().flatten() {
        if ended.contains(sid) {
            continue;
        }
        if let Some(done) =
            sessions::end(&state.store, &tenant.id, sid, Reason::Logout, now).await?
        {
            let reason = Reason::Logout.as_str();
            state.metrics.revoked(tenant.slug.as_str(), reason);
            tracing::info!(
                sid = %done.session.id,
                ended_now = done.ended_now,
                refresh_tokens = done.refresh_tokens,
                "session ended by RP-initiated logout"
            );
        }
        ended.push(sid);
    }
    browser.clear_session();
    let location = redirect.unwrap_or_else(|| format!("{}/logged-out", state.issuer(tenant)));
    // 303: after a form post the browser must follow with GET (RFC 9700 §4.12).
    let mut response = Redirect::to(&location).into_response();
    pages::harden(&mut response, None);
    Ok((browser.into_jar(), response).into_response())
}

/// The parameters as sent, read strictly: a repeated one is refused (RFC 6749 §3.1).
#[derive(Debug, Default)]
struct RawParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    csrf: Option<String>,
    confirm: bool,
}

impl RawParams {
    fn read<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let owned = |name: &str| get(name).map(str::to_owned);
        Self {
            id_token_hint: owned("id_token_hint"),
            client_id: owned("client_id"),
            post_logout_redirect_uri: owned("post_logout_redirect_uri"),
            state: owned("state"),
            csrf: owned("csrf"),
            confirm: get(CONFIRM).is_some(),
        }
    }

    /// The request's parameters for the confirmation form to send again.
    fn forwarded(&self) -> Vec<(&'static str, String)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

/// RP-Initiated Logout §2: GET reads the query, POST the form body. `logout_hint` and
/// `ui_locales` are accepted and not used: the session comes from the hint or the
/// cookie, and the pages are English.
fn read_params(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<RawParams, PageError> {
    let repeated = |name: &str| {
        PageError::BadRequest(format!(
            "The application sent an invalid sign-out request: parameter {name} is repeated."
        ))
    };
    let raw = if method == Method::POST {
        let params = form::Params::parse(headers, body).map_err(|e| {
            PageError::BadRequest(format!(
                "The application sent an invalid sign-out request: {}.",
                e.description
            ))
        })?;
        RawParams::read(|name| params.get(name))
    } else {
        let params = keyhaven_core::authorize::Params::parse(query.unwrap_or_default());
        if let Some(name) = params.repeated().first() {
            return Err(repeated(name));
        }
        RawParams::read(|name| params.get(name))
    };
    // The state goes back to the client in a URL: the bound of the authorization request.
    if raw.state.as_ref().is_some_and(|s| s.len() > MAX_VALUE_LEN) {
        return Err(PageError::BadRequest(
            "The application sent an invalid sign-out request: state is too long.".into(),
        ));
    }
    Ok(raw)
}

/// A logout request whose hint, client and redirect passed their checks.
struct LogoutRequest {
    hint: Option<Hint>,
    client: Option<Arc<CachedClient>>,
    post_logout: Option<PostLogoutRedirect>,
    state: Option<String>,
}

/// What a verified `id_token_hint` says.
struct Hint {
    sid: String,
}

impl LogoutRequest {
    async fn parse(
        state: &OAuthState,
        tenant: &CachedTenant,
        raw: &RawParams,
        now: Timestamp,
    ) -> Result<Self, PageError> {
        let refuse = |why: &str| {
            PageError::BadRequest(format!(
                "The application sent an invalid sign-out request: {why}. You have not been signed out."
            ))
        };
        let hint = match &raw.id_token_hint {
            Some(token) => {
                let keys = tenant.keys(&state.store, now).await?;
                let claims = verify_hint(&keys, &state.issuer(tenant), token).map_err(|why| {
                    tracing::info!(reason = why, "id_token_hint refused");
                    refuse("id_token_hint is not an ID token issued by this tenant")
                })?;
                Some(claims)
            }
            None => None,
        };
        let client_id = match (&raw.client_id, &hint) {
            (Some(sent), Some(hint)) if *sent != hint.aud => {
                return Err(refuse(
                    "client_id is not the client the id_token_hint was issued to",
                ));
            }
            (Some(sent), _) => Some(sent.clone()),
            (None, Some(hint)) => Some(hint.aud.clone()),
            (None, None) => None,
        };
        let client = match client_id {
            Some(id) => {
                let parsed = ClientId::parse(&id)
                    .map_err(|_| refuse("client_id is not a client of this tenant"))?;
                let found = state
                    .clients
                    .find(&state.store, &tenant.id, &parsed, now)
                    .await?;
                if found.is_none() && raw.client_id.is_some() {
                    return Err(refuse("client_id is not a client of this tenant"));
                }
                found
            }
            None => None,
        };
        let post_logout = match (&raw.post_logout_redirect_uri, &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(refuse(
                    "post_logout_redirect_uri needs an id_token_hint or a client_id naming the client it is registered to",
                ));
            }
            (Some(uri), Some(cached)) => {
                let client = Client {
                    app: &cached.app,
                    redirect_uris: &cached.redirect_uris,
                    tenant_environments: tenant.environments,
                };
                let checked = logout::post_logout_redirect_uri(uri, client)
                    .map_err(|why| refuse(&why.to_string()))?;
                Some(checked)
            }
        };
        Ok(Self {
            hint: hint.map(|h| Hint { sid: h.sid }),
            client,
            post_logout,
            state: raw.state.clone(),
        })
    }

    fn hint_sid(&self) -> Option<&str> {
        self.hint.as_ref().map(|h| h.sid.as_str())
    }

    /// Where the browser goes after logout: the checked URI, with `state` when sent
    /// (RP-Initiated Logout §3).
    fn redirect(&self) -> Option<String> {
        self.post_logout
            .as_ref()
            .map(|r| r.with_state(self.state.as_deref()))
    }
}

/// The claims of an ID token read as a hint.
#[derive(Deserialize)]
struct HintClaims {
    iss: String,
    aud: String,
    sid: String,
}

/// RP-Initiated Logout §2: the hint must be an ID token this tenant issued, signed by one
/// of its published keys (so `alg: none`, another tenant's key or a foreign one fail),
/// of type `JWT` (an access token is not an ID token), with this issuer. Its `exp` is not
/// checked: an expired ID token still names its session and client.
fn verify_hint(keys: &TenantKeys, issuer: &str, token: &str) -> Result<HintClaims, &'static str> {
    let kid = jose::peek_kid(token)
        .map_err(|_| "malformed")?
        .ok_or("no kid")?;
    let verifier = keys.verifier(&kid).ok_or("unknown kid")?;
    let verified = verifier
        .verify_with_header::<HintClaims>(token)
        .map_err(|_| "bad signature or claims")?;
    if verified.typ.as_deref() != Some(id_token::TYP) {
        return Err("not an ID token");
    }
    if verified.claims.iss != issuer {
        return Err("another issuer");
    }
    Ok(verified.claims)
}
