//! CORS (the Fetch standard's CORS protocol) for the tenant endpoints that browser
//! applications call from JavaScript. The sign-in, consent and authorization pages are
//! navigations and never CORS; introspection is server to server.
//!
//! - Token, userinfo, revocation and sign-out answer only the origins registered on the tenant's
//!   `spa` applications (design.md §6), echoed exactly with `Vary: Origin`, never `*`.
//!   Another origin gets no CORS headers: the browser withholds the answer from the page,
//!   while the request itself is processed as any other (no cookie is read there, so a
//!   refused origin gains nothing it could not get without a browser).
//! - Discovery and JWKS answer every origin with `*`. They are the same public bytes for
//!   everyone, fetched without credentials, and any server can read them anyway; `*`
//!   needs no `Vary`, so shared caches keep one copy (they are `Cache-Control: public`),
//!   costs no database lookup, and lets browser tools and relying parties whose origin is
//!   registered nowhere verify the tenant's tokens.
//!
//! No endpoint uses cookies across origins: `Access-Control-Allow-Credentials` is never
//! sent. Answers pass through here whatever their status, so an allowed origin can read
//! the OAuth error as well as the success. A preflight is answered 204 here, the one
//! status this crate chooses outside `error.rs`: it is no failure.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyhaven_core::AllowedOrigin;
use keyhaven_store::applications;
use tower::{Layer, Service};

use crate::state::OAuthState;
use crate::tenant;

/// How long a browser may reuse a preflight answer: short, because it also bounds how
/// long a removed origin keeps passing preflights.
const MAX_AGE_SECONDS: &str = "600";

/// The request headers a browser application sends beyond the safelisted ones
/// (`x-device-id` binds tokens to a device at the code exchange and signs it out).
const ALLOW_HEADERS: &str = "authorization, content-type, x-device-id";

/// Who may read an endpoint's answers from another origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A public document: any origin.
    Public,
    /// Tokens and credentials: the origins of the tenant's `spa` applications only.
    SpaOrigins {
        methods: &'static str,
        /// Response headers the page may read besides the safelisted ones.
        expose: Option<&'static str>,
    },
}

/// The policy of an endpoint, by its path under `/t/{tenant}`; `None` for the endpoints
/// that are never CORS.
pub fn policy(path: &str) -> Option<Policy> {
    let spa = |methods, expose| Some(Policy::SpaOrigins { methods, expose });
    match path {
        "/.well-known/openid-configuration" | "/oauth2/jwks" => Some(Policy::Public),
        "/oauth2/token" | "/oauth2/revoke" | "/auth/v1/user/signout" => spa("POST", None),
        // RFC 6750 §3: a refused token is explained in WWW-Authenticate.
        "/oauth2/userinfo" => spa("GET, POST", Some("WWW-Authenticate")),
        _ => None,
    }
}

/// A CORS-preflight request: OPTIONS asking for a method (Fetch, "CORS-preflight request").
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Whether `origin`, as the browser sent it, is exactly one of `registered`. Browsers
/// serialize origins canonically and registered origins are stored canonically, so
/// there is nothing to normalise; `null` (opaque origins) matches nothing.
fn is_registered(origin: &str, registered: &[AllowedOrigin]) -> bool {
    registered.iter().any(|o| o.as_str() == origin)
}

/// Wraps the methods of one endpoint with its policy, the method-not-allowed answer
/// included, so that a preflight (`OPTIONS`) is answered here.
#[derive(Clone)]
pub struct CorsLayer {
    state: OAuthState,
    policy: Policy,
}

impl CorsLayer {
    pub fn new(state: OAuthState, policy: Policy) -> Self {
        Self { state, policy }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            state: self.state.clone(),
            policy: self.policy,
        }
    }
}

#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    state: OAuthState,
    policy: Policy,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Cors<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Answer {
        let preflight = is_preflight(request.method(), request.headers());
        match self.policy {
            Policy::Public => {
                let endpoint = (!preflight).then(|| self.inner.call(request));
                Box::pin(async move {
                    let mut response = match endpoint {
                        Some(endpoint) => endpoint.await?,
                        None => preflight_response(),
                    };
                    let headers = response.headers_mut();
                    headers.insert(
                        header::ACCESS_CONTROL_ALLOW_ORIGIN,
                        HeaderValue::from_static("*"),
                    );
                    if preflight {
                        allow(headers, "GET");
                    }
                    Ok(response)
                })
            }
            Policy::SpaOrigins { methods, expose } => {
                // Most requests come from no browser: only those with an Origin are looked up.
                let asking = request.headers().get(header::ORIGIN).map(|origin| {
                    (
                        self.state.clone(),
                        origin.clone(),
                        request.uri().path().to_owned(),
                    )
                });
                // Not polled before the origin is decided: the endpoint runs after it.
                let endpoint = (!preflight).then(|| self.inner.call(request));
                Box::pin(async move {
                    let allowed = match asking {
                        Some((state, origin, path)) => allowed_origin(&state, &origin, &path).await,
                        None => None,
                    };
                    let mut response = match endpoint {
                        Some(endpoint) => endpoint.await?,
                        None => preflight_response(),
                    };
                    let headers = response.headers_mut();
                    headers.append(header::VARY, HeaderValue::from_static("Origin"));
                    if let Some(origin) = allowed {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                        if preflight {
                            allow(headers, methods);
                        } else if let Some(expose) = expose {
                            headers.insert(
                                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                                HeaderValue::from_static(expose),
                            );
                        }
                    }
                    Ok(response)
                })
            }
        }
    }
}

/// The origin to echo, if it is registered on a `spa` application of the tenant. A
/// tenant that does not exist, or a failed lookup, allows nothing.
async fn allowed_origin(
    state: &OAuthState,
    origin: &HeaderValue,
    path: &str,
) -> Option<HeaderValue> {
    let Ok(origin_str) = origin.to_str() else {
        tracing::info!(path, "CORS refused: the Origin header is not ASCII");
        return None;
    };
    let tenant = tenant::resolve(state, tenant::slug_in_path(path)?)
        .await
        .ok()?;
    let registered = match applications::spa_origins(&state.store, &tenant.id).await {
        Ok(registered) => registered,
        Err(err) => {
            tracing::error!(%err, path, "CORS refused: the spa origins could not be read");
            return None;
        }
    };
    if is_registered(origin_str, &registered) {
        tracing::debug!(origin = origin_str, path, "CORS origin allowed");
        Some(origin.clone())
    } else {
        tracing::info!(
            origin = origin_str,
            path,
            "CORS refused: the origin is not registered on a spa application of this tenant"
        );
        None
    }
}

/// 204 and no body: what the browser needs is in the headers added by the caller.
fn preflight_response() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn allow(headers: &mut HeaderMap, methods: &'static str) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECONDS),
    );
}

#[cfg(test)]
mod tests {
    use keyhaven_core::ApplicationType;

    use super::*;

    fn origins(raw: &[&str]) -> Vec<AllowedOrigin> {
        raw.iter()
            .map(|o| AllowedOrigin::parse(o, ApplicationType::Spa).expect("valid origin"))
            .collect()
    }

    #[test]
    fn an_origin_is_allowed_only_if_registered_exactly() {
        let registered = origins(&["https://app.example.com", "http://localhost:5173"]);
        let cases = [
            ("https://app.example.com", true),
            ("http://localhost:5173", true),
            ("https://app.example.com:443", false),
            ("https://APP.example.com", false),
            ("https://app.example.com/", false),
            ("http://app.example.com", false),
            ("https://evil.app.example.com", false),
            ("https://app.example.com.evil.example", false),
            ("http://localhost:5174", false),
            ("http://127.0.0.1:5173", false),
            ("null", false),
            ("*", false),
            ("", false),
        ];
        for (origin, allowed) in cases {
            assert_eq!(is_registered(origin, &registered), allowed, "{origin:?}");
        }
        assert!(!is_registered("https://app.example.com", &[]));
    }

    #[test]
    fn only_the_endpoints_browsers_call_from_javascript_are_cors() {
        use Policy::*;
        let cases = [
            ("/.well-known/openid-configuration", Some(Public)),
            ("/oauth2/jwks", Some(Public)),
            (
                "/oauth2/token",
                Some(SpaOrigins {
                    methods: "POST",
                    expose: None,
                }),
            ),
            (
                "/oauth2/revoke",
                Some(SpaOrigins {
                    methods: "POST",
                    expose: None,
                }),
            ),
            (
                "/oauth2/userinfo",
                Some(SpaOrigins {
                    methods: "GET, POST",
                    expose: Some("WWW-Authenticate"),
                }),
            ),
            ("/oauth2/introspect", None),
            ("/oauth2/authorize", None),
            ("/login", None),
            ("/consent", None),
            ("/oauth2/token/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(policy(path), expected, "{path}");
        }
    }

    #[test]
    fn a_preflight_is_an_options_request_that_names_a_method() {
        let mut asking = HeaderMap::new();
        asking.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        assert!(is_preflight(&Method::OPTIONS, &asking));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
        assert!(!is_preflight(&Method::POST, &asking));
    }
}
