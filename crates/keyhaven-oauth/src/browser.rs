//! The browser's cookies at a tenant, both HttpOnly, SameSite=Lax (Strict would drop
//! the session on the redirect back from a client), Secure when the public URL is https,
//! and scoped to the tenant's path so that one tenant never sees another's:
//!
//! - the **binding** cookie: a random value the browser gets on its first authorization
//!   request. Pending requests are bound to its digest and the forms' CSRF tokens are
//!   derived from it, so a pending request id or a form token is useless elsewhere;
//! - the **session** cookie: the secret of a signed-in session, new at every sign-in
//!   (no fixation), its digest found in `sessions`.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use keyhaven_core::Timestamp;
use keyhaven_core::model::{Session, Tenant, User};
use keyhaven_core::opaque::{OpaqueDigest, OpaqueToken};
use keyhaven_store::sessions;

use crate::error::PageError;
use crate::state::OAuthState;

pub const BINDING_COOKIE: &str = "kh_browser";
pub const SESSION_COOKIE: &str = "kh_session";

pub struct Browser {
    jar: CookieJar,
    /// The tenant's path under the public URL, like `/t/acme`.
    path: String,
    secure: bool,
}

impl Browser {
    pub fn new(state: &OAuthState, tenant: &Tenant, jar: CookieJar) -> Self {
        Self {
            jar,
            path: tenant_path(state, tenant),
            secure: state.public_url.starts_with("https://"),
        }
    }

    /// The tenant's path under the public URL: cookie scope and page URLs.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The binding cookie's value, if the browser sent a well-formed one.
    pub fn binding(&self) -> Option<&str> {
        self.jar
            .get(BINDING_COOKIE)
            .map(Cookie::value)
            .filter(|v| OpaqueDigest::of_presented(v).is_some())
    }

    pub fn binding_digest(&self) -> Option<OpaqueDigest> {
        self.binding().and_then(OpaqueDigest::of_presented)
    }

    /// The binding cookie's digest, setting a new cookie first if the browser has none.
    pub fn ensure_binding(&mut self, state: &OAuthState) -> OpaqueDigest {
        if let Some(digest) = self.binding_digest() {
            return digest;
        }
        let token = random_token(state);
        self.set(BINDING_COOKIE, token.expose());
        token.digest()
    }

    pub fn session_digest(&self) -> Option<OpaqueDigest> {
        self.jar
            .get(SESSION_COOKIE)
            .and_then(|c| OpaqueDigest::of_presented(c.value()))
    }

    pub fn set_session(&mut self, secret: &OpaqueToken) {
        self.set(SESSION_COOKIE, secret.expose());
    }

    /// Expires the session cookie with the attributes it was set with, so the browser
    /// drops exactly that cookie (only sent when the browser presented one).
    pub fn clear_session(&mut self) {
        let cookie = Cookie::build((SESSION_COOKIE, ""))
            .path(self.path.clone())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build();
        self.jar = std::mem::take(&mut self.jar).remove(cookie);
    }

    fn set(&mut self, name: &'static str, value: &str) {
        let cookie = Cookie::build((name, value.to_owned()))
            .path(self.path.clone())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build();
        self.jar = std::mem::take(&mut self.jar).add(cookie);
    }

    /// The cookies to send back (only those set on this request produce `Set-Cookie`).
    pub fn into_jar(self) -> CookieJar {
        self.jar
    }

    /// The browser's live session at this tenant and its user, if the user may still
    /// sign in.
    pub async fn session(
        &self,
        state: &OAuthState,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<Option<(Session, User)>, PageError> {
        let Some(digest) = self.session_digest() else {
            return Ok(None);
        };
        Ok(
            sessions::find_by_secret_with_user(&state.store, &tenant.id, &digest)
                .await?
                .filter(|(s, u)| s.is_live(now) && !u.disabled),
        )
    }
}

/// 256 random bits as an opaque handle.
pub fn random_token(state: &OAuthState) -> OpaqueToken {
    let mut bytes = [0u8; 32];
    state.entropy.fill(&mut bytes);
    OpaqueToken::from_entropy(bytes)
}

/// The path of the tenant's issuer (`/t/acme`, or `/auth/t/acme` behind a prefix).
pub fn tenant_path(state: &OAuthState, tenant: &Tenant) -> String {
    let issuer = state.issuer(tenant);
    url::Url::parse(&issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| format!("/t/{}", tenant.slug))
}
