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
use axum::middleware;
use axum::routing::{get, post};

pub use state::OAuthState;

pub fn router(state: OAuthState) -> Router {
    let tenant = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(endpoints::discovery::openid_configuration),
        )
        .route("/oauth2/jwks", get(endpoints::jwks::jwks))
        .route("/oauth2/token", post(endpoints::token::token))
        .route("/oauth2/revoke", post(endpoints::revoke::revoke))
        .route(
            "/oauth2/introspect",
            post(endpoints::introspect::introspect),
        )
        .route(
            "/oauth2/authorize",
            get(endpoints::authorize::authorize).post(endpoints::authorize::authorize),
        )
        .route(
            "/oauth2/userinfo",
            get(endpoints::userinfo::userinfo).post(endpoints::userinfo::userinfo),
        )
        .route("/auth/v1/user/signout", post(endpoints::signout::signout))
        .route(
            "/login",
            get(endpoints::login::show).post(endpoints::login::submit),
        )
        .route(
            "/consent",
            get(endpoints::consent::show).post(endpoints::consent::submit),
        )
        .route(
            "/oauth2/logout",
            get(endpoints::end_session::end_session).post(endpoints::end_session::end_session),
        )
        .route("/logged-out", get(endpoints::end_session::signed_out));
    // Last, so that it wraps every route above (cors.rs picks the endpoints it covers).
    let tenant = tenant.layer(middleware::from_fn_with_state(state.clone(), cors::cors));
    Router::new().nest("/t/{tenant}", tenant).with_state(state)
}
