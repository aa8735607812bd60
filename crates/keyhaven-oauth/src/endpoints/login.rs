//! The sign-in page (design.md §6): `GET /t/{tenant}/login?request=…` shows the form for a
//! pending authorization request, `POST` checks the password and starts a session.
//!
//! The answer never tells whether a username exists: unknown users are checked against
//! a dummy hash with the same argon2id parameters, so the time taken is the same, and
//! unknown, disabled and wrong-password sign-ins get the same page.
//!
//! Failed sign-ins are throttled per username typed and per client address
//! ([`keyhaven_core::throttle`]): an attempt is admitted (and counted) before the
//! password is verified, so a locked key costs no argon2 hash, and a locked key gets the
//! form again as a 429 with `Retry-After`, the same for known and unknown usernames.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use keyhaven_core::model::{Application, PendingAuthorization, Session, Tenant, User};
use keyhaven_core::opaque;
use keyhaven_core::password::{Password, PasswordHash};
use keyhaven_core::throttle::{Admission, ThrottleKey, Wait};
use keyhaven_core::username::Username;
use keyhaven_metrics::SignInFailure;
use keyhaven_store::revocations::Reason;
use keyhaven_store::sessions::{self, NewSession};
use keyhaven_store::{authorization_requests, sign_in_throttle, users};
use serde::Deserialize;
use tracing::Instrument;

use crate::browser::{Browser, random_token};
use crate::cache::CachedTenant;
use crate::error::PageError;
use crate::flow;
use crate::form::Params;
use crate::pages::{self, LoginPage};
use crate::state::OAuthState;
use crate::tenant;

/// What the form token of the sign-in form is for.
const PURPOSE: &str = "login";
const WRONG_CREDENTIALS: &str = "The username or password is incorrect.";
const STALE_FORM: &str = "This form has expired. Please enter your username and password again.";

/// An argon2id hash with the parameters of real ones, of a password nobody has: verifying
/// against it costs what verifying a real user's password costs.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$WlpaWlpaWlpaWlpaWlpaWg$hvE3a57VLBTTznZbuC7oKsQ3qlhEoP0eubRbt/JJHwg";
/// Stands in for a presented password that the policy refuses, so that it still costs
/// one verification.
const PLACEHOLDER_PASSWORD: &str = "not-a-password-anyone-can-have";

#[derive(Deserialize)]
pub struct PageQuery {
    request: Option<String>,
}

pub async fn show(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Query(query): Query<PageQuery>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let span = tracing::info_span!("login_page", tenant = tracing::field::Empty);
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let browser = Browser::new(&state, &tenant, jar);
        let id = query.request.ok_or_else(no_request)?;
        let (pending, app, binding) = load(&state, &tenant, &browser, &id).await?;
        let username = pending.request.login_hint.clone().unwrap_or_default();
        let html = render_form(&tenant, &app, &browser, &pending, &binding, &username, None)?;
        Ok(page(html, &pending))
    }
    .instrument(span)
    .await
}

pub async fn submit(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    // The TCP peer. Behind a load balancer that is the balancer: see `client_address`.
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let span = tracing::info_span!(
        "login",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let Submitted {
            tenant,
            form,
            mut browser,
            pending,
            app,
            binding,
        } = accept(
            &state,
            &slug,
            &headers,
            jar,
            &body,
            "Sign-in forms are only accepted from this site.",
        )
        .await?;
        let typed = form.get("username").unwrap_or_default();
        if !opaque::form_token_matches(
            &binding,
            PURPOSE,
            &pending.id,
            form.get("csrf").unwrap_or_default(),
        ) {
            tracing::info!("sign-in form without its token");
            let html = form_html(
                &tenant, &app, &browser, &pending, &binding, typed, STALE_FORM,
            )?;
            return Err(refused(html, true, &pending));
        }
        let address = client_address(peer);
        let keys = [ThrottleKey::username(typed), ThrottleKey::address(address)];
        let throttled_form = |wait: Wait| -> Result<PageError, PageError> {
            let message = too_many(wait);
            let html = form_html(&tenant, &app, &browser, &pending, &binding, typed, &message)?;
            Ok(throttled(html, wait, &pending))
        };
        let (admitted, lock) = match admit(&state, &tenant, &keys).await? {
            Admission::Admitted { counters, lock } => (counters, lock),
            Admission::Refused(wait) => {
                state.metrics.sign_in_throttled(tenant.slug.as_str());
                tracing::info!(
                    reason = "throttled",
                    key = wait.kind.as_str(),
                    %address,
                    retry_after = wait.seconds(),
                    "sign-in refused"
                );
                return Err(throttled_form(wait)?);
            }
        };
        let Some(user) = check_password(
            &state,
            &tenant,
            typed,
            form.get("password").unwrap_or_default(),
        )
        .await?
        else {
            // The failure that reaches a limit answers with the wait it imposes.
            if let Some(wait) = lock {
                state.metrics.sign_in_throttled(tenant.slug.as_str());
                tracing::info!(
                    key = wait.kind.as_str(),
                    %address,
                    lock = wait.seconds(),
                    "sign-in failures reached the limit"
                );
                return Err(throttled_form(wait)?);
            }
            let html = form_html(
                &tenant,
                &app,
                &browser,
                &pending,
                &binding,
                typed,
                WRONG_CREDENTIALS,
            )?;
            return Err(refused(html, false, &pending));
        };
        sign_in_throttle::succeeded(&state.store, &tenant.id, &keys, &admitted).await?;
        let now = state.now();
        // Every sign-in gets a new cookie secret (no fixation). The same user signing in
        // again keeps the session's sid, so the applications' sessions stay attached to
        // it; another user replaces the session, which is then logged out.
        let secret = random_token(&state);
        let amr = vec!["pwd".to_owned()];
        let lifetimes = &tenant.lifetimes;
        let mut session = None;
        if let Some((old, _)) = browser.session(&state, &tenant, now).await? {
            if old.user_id == user.id {
                session = sessions::reauthenticate(
                    &state.store,
                    &tenant.id,
                    &old.id,
                    &secret.digest(),
                    now,
                    &amr,
                    lifetimes,
                )
                .await?;
            } else {
                sessions::end(&state.store, &tenant.id, &old.id, Reason::Replaced, now).await?;
                let reason = Reason::Replaced.as_str();
                state.metrics.revoked(tenant.slug.as_str(), reason);
            }
        }
        let session = match session {
            Some(session) => session,
            None => {
                let expires_at = now.saturating_add(lifetimes.session_absolute);
                sessions::create(
                    &state.store,
                    &tenant.id,
                    NewSession {
                        id: state.random_id(),
                        user_id: user.id.clone(),
                        secret: secret.digest(),
                        auth_time: now,
                        amr,
                        expires_at,
                        idle_expires_at: Session::idle_end(now, lifetimes.session_idle, expires_at),
                        device_id: None,
                    },
                )
                .await?
            }
        };
        browser.set_session(&secret);
        tracing::info!(sid = %session.id, "signed in");
        let response = flow::after_sign_in(&state, &tenant, &app, &pending, &session).await?;
        Ok((browser.into_jar(), response).into_response())
    }
    .instrument(span)
    .await
}

/// The pending request `id`, if it is still pending and was started by this browser; its
/// application; and the browser's binding value the form token derives from.
/// A form posted from one of our pages, with the pending authorization it belongs to.
pub struct Submitted {
    pub tenant: Arc<CachedTenant>,
    pub form: Params,
    pub browser: Browser,
    pub pending: PendingAuthorization,
    pub app: Arc<Application>,
    pub binding: String,
}

/// What every form post of the sign-in flow checks first: the tenant, that the post
/// comes from this site (`cross_site` otherwise), the body, and the pending request.
pub async fn accept(
    state: &OAuthState,
    slug: &str,
    headers: &HeaderMap,
    jar: CookieJar,
    body: &[u8],
    cross_site: &str,
) -> Result<Submitted, PageError> {
    let tenant = tenant::resolve(state, slug).await?;
    if !pages::same_origin(headers, &state.public_url) {
        return Err(PageError::Forbidden(cross_site.into()));
    }
    let form = Params::parse(headers, body).map_err(|e| PageError::BadRequest(e.description))?;
    let browser = Browser::new(state, &tenant, jar);
    let id = form.get("request").ok_or_else(no_request)?;
    let (pending, app, binding) = load(state, &tenant, &browser, id).await?;
    tracing::Span::current().record("client", app.client_id.as_str());
    Ok(Submitted {
        tenant,
        form,
        browser,
        pending,
        app,
        binding,
    })
}

pub async fn load(
    state: &OAuthState,
    tenant: &Tenant,
    browser: &Browser,
    id: &str,
) -> Result<(PendingAuthorization, Arc<Application>, String), PageError> {
    let pending = authorization_requests::get(&state.store, &tenant.id, id, state.now())
        .await?
        .ok_or_else(|| {
            PageError::BadRequest(
                "This sign-in link has expired or was already used. Return to the application and start again.".into(),
            )
        })?;
    let binding = browser
        .binding()
        .filter(|_| browser.binding_digest().is_some_and(|d| d.matches(&pending.browser)))
        .ok_or_else(|| {
            PageError::Forbidden(
                "This sign-in was started in another browser, or cookies are blocked. Return to the application and start again.".into(),
            )
        })?
        .to_owned();
    let client = state
        .clients
        .find(
            &state.store,
            &tenant.id,
            &pending.request.client_id,
            state.now(),
        )
        .await?
        .ok_or_else(|| {
            PageError::BadRequest("The application of this sign-in no longer exists.".into())
        })?;
    Ok((pending, client.app.clone(), binding))
}

/// The address failures are counted against: the TCP peer. `X-Forwarded-For` is not
/// trusted: anyone can send it, and would pick their own counter with it. Deployments
/// behind a load balancer need a configured list of trusted proxies before it can be.
fn client_address(peer: SocketAddr) -> std::net::IpAddr {
    peer.ip()
}

/// Admits this attempt against the throttle's keys before any password is looked at:
/// refused at once from a plain read when a key is locked (the common case under
/// attack), otherwise counted under the rows' locks.
async fn admit(
    state: &OAuthState,
    tenant: &Tenant,
    keys: &[ThrottleKey],
) -> Result<Admission, PageError> {
    let now = state.now();
    if let Some(wait) = sign_in_throttle::wait(&state.store, &tenant.id, keys, now).await? {
        return Ok(Admission::Refused(wait));
    }
    Ok(sign_in_throttle::admit(&state.store, &tenant.id, keys, now).await?)
}

/// What the throttled form says: how long to wait, in words.
fn too_many(wait: Wait) -> String {
    let when = match wait.seconds() {
        1 => "1 second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    };
    format!("Too many failed sign-in attempts. Try again in {when}.")
}

/// The user for these credentials, or `None`, after exactly one argon2id verification
/// whatever the reason (unknown user, disabled user, malformed input, wrong password).
async fn check_password(
    state: &OAuthState,
    tenant: &Tenant,
    username: &str,
    password: &str,
) -> Result<Option<User>, PageError> {
    let user = match Username::parse(username) {
        Ok(username) => users::find_by_username(&state.store, &tenant.id, &username).await?,
        Err(_) => None,
    };
    let (presented, well_formed) = match Password::parse(password) {
        Ok(p) => (p, true),
        Err(_) => (
            Password::parse(PLACEHOLDER_PASSWORD).map_err(PageError::server)?,
            false,
        ),
    };
    let hash = user.as_ref().map_or_else(
        || PasswordHash::from_stored(DUMMY_HASH.to_owned()),
        |u| u.password_hash.clone(),
    );
    let matched = state
        .hasher
        .verify(presented, hash)
        .await
        .map_err(PageError::server)?;
    let outcome = match &user {
        None => "unknown user",
        Some(_) if !(matched && well_formed) => "wrong password",
        Some(u) if u.disabled => "disabled user",
        Some(_) => "ok",
    };
    if outcome != "ok" {
        tracing::info!(reason = outcome, "sign-in refused");
    }
    let failure = match outcome {
        "unknown user" => Some(SignInFailure::UnknownUser),
        "wrong password" => Some(SignInFailure::WrongPassword),
        "disabled user" => Some(SignInFailure::DisabledUser),
        _ => None,
    };
    if let Some(failure) = failure {
        state.metrics.sign_in_failed(tenant.slug.as_str(), failure);
    }
    Ok(user.filter(|u| matched && well_formed && !u.disabled))
}

fn render_form(
    tenant: &Tenant,
    app: &Application,
    browser: &Browser,
    pending: &PendingAuthorization,
    binding: &str,
    username: &str,
    error: Option<&str>,
) -> Result<String, PageError> {
    let action = format!("{}/login", browser.path());
    let csrf = opaque::form_token(binding, PURPOSE, &pending.id);
    pages::render(&LoginPage {
        tenant_name: tenant.display_name.as_str(),
        app_name: app.display_name.as_str(),
        action: &action,
        request_id: &pending.id,
        csrf: &csrf,
        username,
        error,
    })
}

fn form_html(
    tenant: &Tenant,
    app: &Application,
    browser: &Browser,
    pending: &PendingAuthorization,
    binding: &str,
    username: &str,
    error: &str,
) -> Result<String, PageError> {
    render_form(
        tenant,
        app,
        browser,
        pending,
        binding,
        username,
        Some(error),
    )
}

/// The form's post may end in a redirect to the client, which the page's CSP must allow.
fn page(html: String, pending: &PendingAuthorization) -> Response {
    let mut response = Html(html).into_response();
    pages::harden(
        &mut response,
        pages::form_target(&pending.request.redirect_uri).as_deref(),
    );
    response
}

/// The form again with its error.
fn refused(html: String, stale_form: bool, pending: &PendingAuthorization) -> PageError {
    PageError::Refused {
        html,
        stale_form,
        form_target: pages::form_target(&pending.request.redirect_uri),
    }
}

/// The form again, throttled: 429 with `Retry-After`.
fn throttled(html: String, wait: Wait, pending: &PendingAuthorization) -> PageError {
    PageError::Throttled {
        html,
        retry_after: wait.seconds(),
        form_target: pages::form_target(&pending.request.redirect_uri),
    }
}

fn no_request() -> PageError {
    PageError::BadRequest(
        "Sign-in starts at the application you want to use: return to it and sign in from there."
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = Password::parse("correct horse battery staple")
            .expect("valid")
            .hash([1; 16]);
        let params = |h: &str| h.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY_HASH), params(real.as_str()));
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$"));
        let placeholder =
            Password::parse(PLACEHOLDER_PASSWORD).expect("the placeholder passes the policy");
        assert!(!placeholder.matches(&PasswordHash::from_stored(DUMMY_HASH.into())));
    }

    #[test]
    fn the_throttled_form_says_how_long_to_wait_in_words() {
        let says = |seconds| {
            too_many(Wait {
                kind: keyhaven_core::throttle::KeyKind::Username,
                duration: std::time::Duration::from_secs(seconds),
            })
        };
        assert_eq!(
            says(30),
            "Too many failed sign-in attempts. Try again in 30 seconds."
        );
        assert!(says(1).ends_with("in 1 second."));
        assert!(says(119).ends_with("in 119 seconds."));
        assert!(says(121).ends_with("in 3 minutes."));
        assert!(says(900).ends_with("in 15 minutes."));
    }
}
