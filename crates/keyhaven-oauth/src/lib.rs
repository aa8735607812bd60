//! Keyhaven's public runtime: the tenant-routed OAuth 2.0 / OpenID Connect endpoints.
//! The issuer of tenant `acme` is `<public URL>/t/acme`.
//!
//! Invariants: HTTP status codes are chosen only in `error.rs` (save the 204 of a CORS
//! preflight, in `cors.rs`); every endpoint resolves its tenant first and looks up
//! clients, keys and tokens within it only; no token, secret, password or code is ever
//! logged.

pub mod access_token;
mod authorization_response;
pub mod backchannel_logout;
mod browser;
pub mod cache;
mod client_auth;
mod cors;
mod endpoints;
pub mod error;
mod flow;
mod form;
mod grants;
mod id_token;
pub mod keys;
mod logout_token;
mod pages;
mod request_headers;
pub mod state;
mod tenant;
mod token_response;

use axum::Router;
use axum::routing::{MethodRouter, get, post};

pub use state::OAuthState;
pub use tenant::slug_in_path;

/// Every tenant endpoint, by its path under `/t/{tenant}`.
fn endpoints() -> Vec<(&'static str, MethodRouter<OAuthState>)> {
    vec![
        (
            "/.well-known/openid-configuration",
            get(endpoints::discovery::openid_configuration),
        ),
        ("/oauth2/jwks", get(endpoints::jwks::jwks)),
        ("/oauth2/token", post(endpoints::token::token)),
        ("/oauth2/revoke", post(endpoints::revoke::revoke)),
        (
            "/oauth2/introspect",
            post(endpoints::introspect::introspect),
        ),
        (
            "/oauth2/authorize",
            get(endpoints::authorize::authorize).post(endpoints::authorize::authorize),
        ),
        (
            "/oauth2/userinfo",
            get(endpoints::userinfo::userinfo).post(endpoints::userinfo::userinfo),
        ),
        ("/auth/v1/user/signout", post(endpoints::signout::signout)),
        (
            "/login",
            get(endpoints::login::show).post(endpoints::login::submit),
        ),
        (
            "/consent",
            get(endpoints::consent::show).post(endpoints::consent::submit),
        ),
        (
            "/oauth2/logout",
            get(endpoints::end_session::end_session).post(endpoints::end_session::end_session),
        ),
        ("/logged-out", get(endpoints::end_session::signed_out)),
    ]
}

pub fn router(state: OAuthState) -> Router {
    // Each endpoint is routed by its full path, not under a router nested at
    // `/t/{tenant}`: nesting rewrote every request's URI and added service layers that
    // axum clones for each request. CORS wraps only the endpoints that cors.rs names.
    endpoints()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            let methods = match cors::policy(path) {
                Some(policy) => methods.layer(cors::CorsLayer::new(state.clone(), policy)),
                None => methods,
            };
            router.route(&format!("/t/{{tenant}}{path}"), methods)
        })
        .with_state(state)
}
