//! Tenant routing: `/t/{tenant}/...` resolves to the tenant or answers 404.

use std::sync::Arc;

use keyhaven_core::Slug;
use keyhaven_core::model::Tenant;

use crate::error::{ErrorCode, OAuthError};
use crate::state::OAuthState;

/// The cached tenant itself, not a copy: a request only reads it.
pub async fn resolve(state: &OAuthState, slug: &str) -> Result<Arc<Tenant>, OAuthError> {
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
