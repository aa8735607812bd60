//! Tenant routing: `/t/{tenant}/...` resolves to the tenant or answers 404.

use std::sync::Arc;

use keyhaven_core::Slug;

use crate::cache::CachedTenant;
use crate::error::{ErrorCode, OAuthError};
use crate::state::OAuthState;

/// The tenant's slug in a path `/t/{tenant}/...`, as sent (not yet parsed).
pub fn slug_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/t/")?.split('/').next()
}

/// The cached tenant itself, not a copy: a request only reads it.
pub async fn resolve(state: &OAuthState, slug: &str) -> Result<Arc<CachedTenant>, OAuthError> {
    let not_found = || OAuthError::new(ErrorCode::NotFound, "no such tenant");
    let slug = Slug::parse(slug).map_err(|_| not_found())?;
    let tenant = state
        .tenants
        .find(&state.store, &slug, state.now())
        .await?
        .ok_or_else(not_found)?;
    tracing::Span::current().record("tenant", tenant.slug.as_str());
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slug_is_the_path_segment_after_t() {
        assert_eq!(slug_in_path("/t/acme/oauth2/token"), Some("acme"));
        assert_eq!(slug_in_path("/t/acme"), Some("acme"));
        assert_eq!(slug_in_path("/oauth2/token"), None);
        assert_eq!(slug_in_path("/healthz"), None);
    }
}
