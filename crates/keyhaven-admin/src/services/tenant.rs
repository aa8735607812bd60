//! `TenantService`: tenants of the caller's organization.

use keyhaven_core::model::{Tenant, TokenLifetimes};
use keyhaven_core::{DisplayName, Invalid, Slug};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::tenants::{self, NewTenant};
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::keys;
use crate::names;
use crate::pagination;
use crate::state::AdminState;

pub struct TenantApi {
    state: AdminState,
}

impl TenantApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

const UPDATABLE: &[&str] = &[
    "display_name",
    "disabled_environments",
    "access_token_lifetime",
    "id_token_lifetime",
    "refresh_token_lifetime",
    "session_idle_lifetime",
    "session_absolute_lifetime",
];

#[tonic::async_trait]
impl pb::tenant_service_server::TenantService for TenantApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        caller.require_organization_token("creating a tenant")?;
        if !request.parent.is_empty() {
            let org = names::organization("parent", &request.parent)?;
            caller.organization(&self.state, &org).await?;
        }
        let tenant = request
            .tenant
            .ok_or_else(|| AdminError::invalid("tenant", "is required"))?;
        let mut invalid = Invalid::default();
        let slug = invalid.check("tenant.slug", Slug::parse(&tenant.slug));
        if let Some(slug) = &slug {
            caller.acting_on(format!("tenants/{slug}"));
        }
        let display_name = invalid.check(
            "tenant.display_name",
            DisplayName::parse(&tenant.display_name),
        );
        let environments = convert::enabled_environments(
            "tenant.disabled_environments",
            &tenant.disabled_environments,
            &mut invalid,
        );
        let lifetimes = lifetimes(&tenant, TokenLifetimes::default(), None, &mut invalid);
        let request_id = invalid.check("request_id", convert::request_id(&request.request_id));
        invalid.finish().map_err(AdminError::from)?;
        let (Some(slug), Some(display_name), Some(request_id)) = (slug, display_name, request_id)
        else {
            return Err(AdminError::Internal("validated fields missing".into()).into());
        };
        // The keys are sealed to the tenant's id, so the id is chosen before the tenant
        // exists; a replayed request discards them.
        let id = tenants::new_id();
        let signing_keys = keys::for_new_tenant(&self.state, &id).await?;
        let new = NewTenant {
            id,
            slug,
            display_name,
            environments,
            lifetimes,
            signing_keys,
        };
        let created = tenants::create(&self.state.store, &caller.audit(), new, request_id)
            .await
            .map_err(AdminError::from_store("tenant"))?;
        Ok(Response::new(self.to_proto(&caller, &created.into_inner())))
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let caller = Caller::of(&request)?;
        let slug = names::tenant("name", &request.get_ref().name)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        Ok(Response::new(self.to_proto(&caller, &tenant)))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let page = pagination::request(request.page_size, &request.page_token)?;
        let only = caller.service_tenant().map(|(id, _)| id);
        let page = tenants::list(
            &self.state.store,
            &caller.token.organization_id,
            only,
            &page,
        )
        .await
        .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListTenantsResponse {
            next_page_token: pagination::next_token(&page),
            tenants: page
                .items
                .iter()
                .map(|t| self.to_proto(&caller, t))
                .collect(),
        }))
    }

    async fn update_tenant(
        &self,
        request: Request<pb::UpdateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let tenant = request
            .tenant
            .ok_or_else(|| AdminError::invalid("tenant", "is required"))?;
        let slug = names::tenant("tenant.name", &tenant.name)?;
        caller.acting_on(tenant.name.clone());
        let current = caller.tenant(&self.state, &slug).await?;
        let paths = convert::update_paths(request.update_mask.as_ref(), UPDATABLE)?;
        let expected = convert::expected_version("tenant.etag", &tenant.etag)?;

        let mut invalid = Invalid::default();
        let display_name = if paths.contains(&"display_name") {
            invalid.check(
                "tenant.display_name",
                DisplayName::parse(&tenant.display_name),
            )
        } else {
            None
        };
        let environments = paths.contains(&"disabled_environments").then(|| {
            convert::enabled_environments(
                "tenant.disabled_environments",
                &tenant.disabled_environments,
                &mut invalid,
            )
        });
        let lifetimes = lifetimes(&tenant, current.lifetimes, Some(&paths), &mut invalid);
        invalid.finish().map_err(AdminError::from)?;

        let updated = tenants::update(
            &self.state.store,
            &caller.audit(),
            &current.organization_id,
            &slug,
            expected,
            |t| {
                if let Some(name) = &display_name {
                    t.display_name = name.clone();
                }
                if let Some(envs) = environments {
                    t.environments = envs;
                }
                if paths.contains(&"access_token_lifetime") {
                    t.lifetimes.access_token = lifetimes.access_token;
                }
                if paths.contains(&"id_token_lifetime") {
                    t.lifetimes.id_token = lifetimes.id_token;
                }
                if paths.contains(&"refresh_token_lifetime") {
                    t.lifetimes.refresh_token = lifetimes.refresh_token;
                }
                if paths.contains(&"session_idle_lifetime") {
                    t.lifetimes.session_idle = lifetimes.session_idle;
                }
                if paths.contains(&"session_absolute_lifetime") {
                    t.lifetimes.session_absolute = lifetimes.session_absolute;
                }
            },
        )
        .await
        .map_err(AdminError::from_store(&tenant.name))?;
        Ok(Response::new(self.to_proto(&caller, &updated)))
    }

    async fn delete_tenant(
        &self,
        request: Request<pb::DeleteTenantRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("name", &request.name)?;
        caller.acting_on(request.name.clone());
        caller.require_organization_token("deleting a tenant")?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let expected = convert::expected_version("etag", &request.etag)?;
        tenants::delete(
            &self.state.store,
            &caller.audit(),
            &tenant.organization_id,
            &slug,
            expected,
        )
        .await
        .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(()))
    }
}

/// Lifetimes of `tenant` over `base`. At creation (`paths` is `None`) each given one is
/// taken; in an update, those the mask names are taken and must be given.
fn lifetimes(
    tenant: &pb::Tenant,
    base: TokenLifetimes,
    paths: Option<&[&str]>,
    invalid: &mut Invalid,
) -> TokenLifetimes {
    type Parse = fn(i64) -> Result<std::time::Duration, keyhaven_core::model::LifetimeError>;
    let mut lifetimes = base;
    let fields: [(
        &str,
        &Option<prost_types::Duration>,
        Parse,
        &mut std::time::Duration,
    ); 5] = [
        (
            "access_token_lifetime",
            &tenant.access_token_lifetime,
            TokenLifetimes::access_token,
            &mut lifetimes.access_token,
        ),
        (
            "id_token_lifetime",
            &tenant.id_token_lifetime,
            TokenLifetimes::id_token,
            &mut lifetimes.id_token,
        ),
        (
            "refresh_token_lifetime",
            &tenant.refresh_token_lifetime,
            TokenLifetimes::refresh_token,
            &mut lifetimes.refresh_token,
        ),
        (
            "session_idle_lifetime",
            &tenant.session_idle_lifetime,
            TokenLifetimes::session_idle,
            &mut lifetimes.session_idle,
        ),
        (
            "session_absolute_lifetime",
            &tenant.session_absolute_lifetime,
            TokenLifetimes::session_absolute,
            &mut lifetimes.session_absolute,
        ),
    ];
    for (path, given, parse, slot) in fields {
        let selected = paths.is_none_or(|p| p.contains(&path));
        let field = format!("tenant.{path}");
        match given {
            _ if !selected => {}
            None if paths.is_some() => invalid.push(field, "is in update_mask, so it is required"),
            None => {}
            Some(d) => match convert::seconds(&field, d) {
                Ok(s) => {
                    if let Some(v) = invalid.check(&field, parse(s)) {
                        *slot = v;
                    }
                }
                Err(e) => invalid.push(field, e),
            },
        }
    }
    lifetimes
}

impl TenantApi {
    fn to_proto(&self, caller: &Caller, t: &Tenant) -> pb::Tenant {
        pb::Tenant {
            name: format!("tenants/{}", t.slug),
            slug: t.slug.to_string(),
            display_name: t.display_name.to_string(),
            issuer: self.state.issuer(&t.slug),
            organization: format!("organizations/{}", caller.token.organization_slug),
            disabled_environments: convert::disabled_environments(t.environments),
            access_token_lifetime: Some(convert::duration(t.lifetimes.access_token)),
            id_token_lifetime: Some(convert::duration(t.lifetimes.id_token)),
            refresh_token_lifetime: Some(convert::duration(t.lifetimes.refresh_token)),
            session_idle_lifetime: Some(convert::duration(t.lifetimes.session_idle)),
            session_absolute_lifetime: Some(convert::duration(t.lifetimes.session_absolute)),
            etag: convert::etag(t.version),
            create_time: Some(convert::timestamp(t.created_at)),
            update_time: Some(convert::timestamp(t.updated_at)),
        }
    }
}
