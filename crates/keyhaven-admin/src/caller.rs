//! The authenticated caller of one RPC, and what its token reaches.

use std::sync::{Arc, Mutex};

use keyhaven_core::model::{ManagementToken, Organization, Tenant};
use keyhaven_core::{Slug, TenantId, Timestamp};
use keyhaven_store::{Audit, organizations, tenants};
use tonic::Request;

use crate::error::AdminError;
use crate::permissions::Rpc;
use crate::state::AdminState;

/// Put in the request's extensions by the auth layer; services read it back.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: Arc<ManagementToken>,
    pub rpc: &'static Rpc,
    pub now: Timestamp,
    subject: Arc<Mutex<Subject>>,
}

/// What the call acted on, as far as the service got: the auth layer records it in the
/// audit event of a failed mutation.
#[derive(Debug, Default, Clone)]
pub struct Subject {
    pub target: String,
    pub tenant: Option<(TenantId, Slug)>,
}

impl Caller {
    pub fn new(token: ManagementToken, rpc: &'static Rpc, now: Timestamp) -> Self {
        let tenant = token.tenant.clone();
        Self {
            token: Arc::new(token),
            rpc,
            now,
            subject: Arc::new(Mutex::new(Subject {
                target: String::new(),
                tenant,
            })),
        }
    }

    pub fn of<T>(request: &Request<T>) -> Result<Caller, AdminError> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| {
                AdminError::Internal(
                    "request reached a service without passing the auth layer".into(),
                )
            })
    }

    /// The audit context of this call's mutation.
    pub fn audit(&self) -> Audit {
        Audit {
            organization_id: self.token.organization_id.clone(),
            actor: self.token.resource_name(),
            action: self.rpc.action,
            now: self.now,
        }
    }

    pub fn acting_on(&self, target: impl Into<String>) {
        if let Ok(mut subject) = self.subject.lock() {
            subject.target = target.into();
        }
    }

    pub fn subject(&self) -> Subject {
        self.subject.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The tenant of a service token; `None` for an organization token.
    pub fn service_tenant(&self) -> Option<&(TenantId, Slug)> {
        self.token.tenant.as_ref()
    }

    /// Loads a tenant the token reaches. A service token naming another tenant is
    /// refused without looking it up; a tenant of another organization is NOT_FOUND,
    /// exactly like one that does not exist.
    pub async fn tenant(&self, state: &AdminState, slug: &Slug) -> Result<Tenant, AdminError> {
        let name = format!("tenants/{slug}");
        if let Some((_, own)) = self.service_tenant()
            && own != slug
        {
            return Err(AdminError::PermissionDenied(format!(
                "this service token is scoped to tenants/{own} and cannot act on {name}"
            )));
        }
        let tenant = tenants::get(&state.store, &self.token.organization_id, slug)
            .await?
            .ok_or(AdminError::NotFound(name))?;
        if let Ok(mut subject) = self.subject.lock() {
            subject.tenant = Some((tenant.id.clone(), tenant.slug.clone()));
        }
        Ok(tenant)
    }

    /// Refuses service tokens for calls that act on the organization as a whole.
    pub fn require_organization_token(&self, what: &str) -> Result<(), AdminError> {
        match self.service_tenant() {
            None => Ok(()),
            Some((_, slug)) => Err(AdminError::PermissionDenied(format!(
                "{what} needs an organization token; this service token is scoped to tenants/{slug}"
            ))),
        }
    }

    /// The token's own organization, if `slug` names it; otherwise NOT_FOUND.
    pub async fn organization(
        &self,
        state: &AdminState,
        slug: &Slug,
    ) -> Result<Organization, AdminError> {
        let name = format!("organizations/{slug}");
        if *slug != self.token.organization_slug {
            return Err(AdminError::NotFound(name));
        }
        organizations::get(&state.store, &self.token.organization_id)
            .await?
            .ok_or(AdminError::NotFound(name))
    }
}
