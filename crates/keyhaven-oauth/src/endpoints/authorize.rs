//! The authorization endpoint (RFC 6749 §3.1 and §4.1.1, OIDC Core §3.1.2): GET with a
//! query or POST with a form, the same either way. The request is checked by
//! `keyhaven_core::authorize`; an untrusted client or redirect URI gets an error page,
//! anything later an error at the redirect URI; then the browser flow takes over.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use keyhaven_core::authorize::{self, Client, Params, Rejection};
use tracing::Instrument;

use crate::authorization_response;
use crate::browser::Browser;
use crate::error::PageError;
use crate::flow;
use crate::state::OAuthState;
use crate::tenant;

pub async fn authorize(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, PageError> {
    let span = tracing::info_span!(
        "authorize",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let params = read_params(&method, &headers, query.as_deref(), &body)?;
        let client_id = authorize::client_id(&params).map_err(page)?;
        tracing::Span::current().record("client", client_id.as_str());
        // A client of another tenant is as unknown here as one that never existed.
        let cached = state
            .clients
            .find(&state.store, &tenant.id, &client_id, state.now())
            .await?
            .ok_or_else(|| {
                PageError::BadRequest("client_id is not a client of this tenant.".into())
            })?;
        let app = &cached.app;
        let client = Client {
            app,
            redirect_uris: &cached.redirect_uris,
            tenant_environments: tenant.environments,
        };
        let request = match authorize::validate(&params, client) {
            Ok(request) => request,
            Err(Rejection::Redirect(reply_to, error)) => {
                return authorization_response::error(&reply_to, &error, &state.issuer(&tenant));
            }
            Err(rejection) => return Err(page(rejection)),
        };
        let browser = Browser::new(&state, &tenant, jar);
        flow::start(&state, &tenant, app, request, browser).await
    }
    .instrument(span)
    .await
}

/// OIDC Core §3.1.2.1: GET reads the query, POST the form body.
fn read_params(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Params, PageError> {
    if method != Method::POST {
        return Ok(Params::parse(query.unwrap_or_default()));
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let body = std::str::from_utf8(body).ok().filter(|_| form).ok_or_else(|| {
        PageError::BadRequest("A POST to the authorization endpoint must carry an application/x-www-form-urlencoded body.".into())
    })?;
    Ok(Params::parse(body))
}

fn page(rejection: Rejection) -> PageError {
    PageError::BadRequest(format!(
        "The application sent an invalid sign-in request: {}.",
        rejection.error().description
    ))
}
