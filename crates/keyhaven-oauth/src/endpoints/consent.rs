//! The consent page (design.md §6): an application that is not first-party, or a request
//! with `prompt=consent`, shows the user what it asks for; allow issues the code, deny
//! answers `access_denied` to the client (RFC 6749 §4.1.2.1). Consent is asked for each
//! request; remembering it per user and application comes with the consent records.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use keyhaven_core::authorize::{AuthorizeError, ErrorCode};
use keyhaven_core::model::{PendingAuthorization, Session, Tenant, User};
use keyhaven_core::opaque;
use serde::Deserialize;
use tracing::Instrument;

use crate::authorization_response;
use crate::browser::Browser;
use crate::endpoints::login;
use crate::error::PageError;
use crate::flow;
use crate::pages::{self, ConsentPage, ScopeLine};
use crate::state::OAuthState;
use crate::tenant;

/// What the form token of the consent form is for.
const PURPOSE: &str = "consent";

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
    let span = tracing::info_span!("consent_page", tenant = tracing::field::Empty);
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let browser = Browser::new(&state, &tenant, jar);
        let id = query.request.ok_or_else(no_request)?;
        let (pending, app, binding) = login::load(&state, &tenant, &browser, &id).await?;
        let (_, user) = signed_in_for(&state, &tenant, &browser, &pending).await?;
        let action = format!("{}/consent", browser.path());
        let csrf = opaque::form_token(&binding, PURPOSE, &pending.id);
        let html = pages::render(&ConsentPage {
            tenant_name: tenant.display_name.as_str(),
            app_name: app.display_name.as_str(),
            username: user.username.as_str(),
            scopes: pending
                .request
                .scope
                .iter()
                .map(|s| ScopeLine::describe(s.as_str()))
                .collect(),
            action: &action,
            request_id: &pending.id,
            csrf: &csrf,
        })?;
        let mut response = Html(html).into_response();
        pages::harden(
            &mut response,
            pages::form_target(&pending.request.redirect_uri).as_deref(),
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

pub async fn submit(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let span = tracing::info_span!(
        "consent",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let login::Submitted { tenant, form, browser, pending, app, binding } =
            login::accept(&state, &slug, &headers, jar, &body, "Consent forms are only accepted from this site.").await?;
        if !opaque::form_token_matches(&binding, PURPOSE, &pending.id, form.get("csrf").unwrap_or_default()) {
            return Err(PageError::Forbidden(
                "This form has expired or was not sent from this page. Return to the application and start again.".into(),
            ));
        }
        let (session, _) = signed_in_for(&state, &tenant, &browser, &pending).await?;
        let allowed = match form.get("decision") {
            Some("allow") => true,
            Some("deny") => false,
            _ => return Err(PageError::BadRequest("Choose Allow or Deny.".into())),
        };
        flow::take(&state, &tenant, &pending, state.now()).await?;
        if allowed {
            flow::issue_code(&state, &tenant, &app, &pending.request, &session).await
        } else {
            let denied = AuthorizeError::new(ErrorCode::AccessDenied, "the user denied the request");
            authorization_response::error(&pending.request.reply_to(), &denied, &state.issuer(&tenant))
        }
    }
    .instrument(span)
    .await
}

/// The browser's session, which must be the one the user signed in with for this request.
async fn signed_in_for(
    state: &OAuthState,
    tenant: &Tenant,
    browser: &Browser,
    pending: &PendingAuthorization,
) -> Result<(Session, User), PageError> {
    browser
        .session(state, tenant, state.now())
        .await?
        .filter(|(session, _)| pending.session_id.as_deref() == Some(session.id.as_str()))
        .ok_or_else(|| {
            PageError::BadRequest("You are no longer signed in for this request. Return to the application and start again.".into())
        })
}

fn no_request() -> PageError {
    PageError::BadRequest(
        "Consent is asked by the application you want to use: return to it and sign in from there."
            .into(),
    )
}
