//! The browser flow between the authorization endpoint, the sign-in page and the consent
//! page: what to do next with a checked request (`authorize::next_step`), keeping it
//! server-side while the user is busy, and issuing the code at the end.

use std::time::Duration;

use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_core::Timestamp;
use keyhaven_core::authorize::{self, AuthorizationRequest, Situation, Step};
use keyhaven_core::model::{Application, AuthorizationCode, PendingAuthorization, Session, Tenant};
use keyhaven_store::{authorization_codes, authorization_requests, sessions};

use crate::authorization_response;
use crate::browser::{Browser, random_token};
use crate::error::PageError;
use crate::pages;
use crate::state::OAuthState;

/// How long the user has to get through the sign-in and consent pages.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A checked request arriving at the authorization endpoint.
pub async fn start(
    state: &OAuthState,
    tenant: &Tenant,
    app: &Application,
    request: AuthorizationRequest,
    mut browser: Browser,
) -> Result<Response, PageError> {
    let now = state.now();
    let signed_in = browser.session(state, tenant, now).await?;
    let step = authorize::next_step(Situation {
        request: &request,
        auth_time: signed_in.as_ref().map(|(s, _)| s.auth_time),
        signed_in_now: false,
        first_party: app.first_party,
        consented: false,
        now,
    });
    let issuer = state.issuer(tenant);
    let page = match step {
        Step::Refuse(error) => {
            return authorization_response::error(&request.reply_to(), &error, &issuer);
        }
        Step::IssueCode => {
            let (session, _) =
                signed_in.ok_or_else(|| PageError::server("issuing without a session"))?;
            // Single sign-on is use: the session's idle end moves on.
            sessions::touch(
                &state.store,
                &tenant.id,
                &session,
                tenant.lifetimes.session_idle,
                now,
            )
            .await?;
            return issue_code(state, tenant, app, &request, &session).await;
        }
        Step::SignIn => "login",
        Step::Consent => "consent",
    };
    let pending = PendingAuthorization {
        id: state.random_id(),
        tenant_id: tenant.id.clone(),
        application_id: app.id.clone(),
        browser: browser.ensure_binding(state),
        session_id: match step {
            Step::Consent => signed_in.map(|(s, _)| s.id),
            _ => None,
        },
        request,
        expires_at: now.saturating_add(PENDING_LIFETIME),
        created_at: now,
    };
    authorization_requests::create(&state.store, &pending).await?;
    tracing::info!(next = page, "authorization request waits for the user");
    let mut response =
        Redirect::to(&format!("{issuer}/{page}?request={}", pending.id)).into_response();
    pages::harden(&mut response, None);
    Ok((browser.into_jar(), response).into_response())
}

/// The user has just signed in for `pending` with `session`.
pub async fn after_sign_in(
    state: &OAuthState,
    tenant: &Tenant,
    app: &Application,
    pending: &PendingAuthorization,
    session: &Session,
) -> Result<Response, PageError> {
    let now = state.now();
    let step = authorize::next_step(Situation {
        request: &pending.request,
        auth_time: Some(session.auth_time),
        signed_in_now: true,
        first_party: app.first_party,
        consented: false,
        now,
    });
    match step {
        Step::Consent => {
            authorization_requests::attach_session(
                &state.store,
                &tenant.id,
                &pending.id,
                &session.id,
            )
            .await?;
            let mut response = Redirect::to(&format!(
                "{}/consent?request={}",
                state.issuer(tenant),
                pending.id
            ))
            .into_response();
            pages::harden(&mut response, None);
            Ok(response)
        }
        Step::IssueCode => {
            take(state, tenant, pending, now).await?;
            issue_code(state, tenant, app, &pending.request, session).await
        }
        Step::Refuse(error) => {
            take(state, tenant, pending, now).await?;
            authorization_response::error(
                &pending.request.reply_to(),
                &error,
                &state.issuer(tenant),
            )
        }
        Step::SignIn => Err(PageError::server(
            "sign-in asked again right after signing in",
        )),
    }
}

/// Removes the pending request for good; only one caller gets past this, so a form
/// posted twice cannot yield two answers.
pub async fn take(
    state: &OAuthState,
    tenant: &Tenant,
    pending: &PendingAuthorization,
    now: Timestamp,
) -> Result<(), PageError> {
    if authorization_requests::take(&state.store, &tenant.id, &pending.id, now).await? {
        Ok(())
    } else {
        Err(PageError::BadRequest(
            "This sign-in was already completed or has expired. Return to the application and start again.".into(),
        ))
    }
}

/// RFC 6749 §4.1.2: a code of 256 random bits, stored by digest, living at most 60 s,
/// bound to the client, the redirect URI, the PKCE challenge and the session.
pub async fn issue_code(
    state: &OAuthState,
    tenant: &Tenant,
    app: &Application,
    request: &AuthorizationRequest,
    session: &Session,
) -> Result<Response, PageError> {
    let now = state.now();
    let code = random_token(state);
    let record = AuthorizationCode {
        digest: code.digest(),
        tenant_id: tenant.id.clone(),
        application_id: app.id.clone(),
        user_id: session.user_id.clone(),
        session_id: session.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        expires_at: now.saturating_add(authorize::CODE_LIFETIME),
        consumed_at: None,
        issued_jti: None,
        created_at: now,
    };
    authorization_codes::create(&state.store, &tenant.id, &record).await?;
    // Whom a logout of this session concerns (back-channel logout, session listings).
    sessions::record_application(&state.store, &tenant.id, &session.id, &app.id, now).await?;
    tracing::info!(client = %app.client_id, "authorization code issued");
    authorization_response::code(&request.reply_to(), code.expose(), &state.issuer(tenant))
}
