//! `ManagementTokenService`: organization tokens and tenant service tokens.

use keyhaven_core::model::{ManagementToken, Organization, Tenant};
use keyhaven_core::{DisplayName, Invalid, PermissionSet, SecretKind};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::management_tokens::{self, NewManagementToken};
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::names::{TokenName, TokenParent};
use crate::pagination;
use crate::state::AdminState;

pub struct ManagementTokenApi {
    state: AdminState,
}

impl ManagementTokenApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }

    /// The organization and, for a tenant parent, the tenant a parent names, if the
    /// caller reaches them. Only organization tokens manage organization tokens.
    async fn owner(
        &self,
        caller: &Caller,
        parent: &TokenParent,
    ) -> Result<(Organization, Option<Tenant>), AdminError> {
        let org_slug = caller.token.organization_slug.clone();
        match parent {
            TokenParent::Organization(slug) => {
                caller.require_organization_token("managing organization tokens")?;
                Ok((caller.organization(&self.state, slug).await?, None))
            }
            TokenParent::Tenant(slug) => {
                let tenant = caller.tenant(&self.state, slug).await?;
                Ok((
                    caller.organization(&self.state, &org_slug).await?,
                    Some(tenant),
                ))
            }
        }
    }
}

#[tonic::async_trait]
impl pb::management_token_service_server::ManagementTokenService for ManagementTokenApi {
    async fn create_management_token(
        &self,
        request: Request<pb::CreateManagementTokenRequest>,
    ) -> Result<Response<pb::CreateManagementTokenResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let parent = TokenParent::parse("parent", &request.parent)?;
        caller.acting_on(request.parent.clone());
        let (organization, tenant) = self.owner(&caller, &parent).await?;
        let token = request
            .management_token
            .ok_or_else(|| AdminError::invalid("management_token", "is required"))?;

        let mut invalid = Invalid::default();
        let display_name = invalid.check(
            "management_token.display_name",
            DisplayName::parse(&token.display_name),
        );
        let permissions = invalid.check(
            "management_token.permissions",
            PermissionSet::parse_list(&token.permissions),
        );
        let expires_at = match &token.expire_time {
            None => None,
            Some(ts) => match convert::from_timestamp("management_token.expire_time", ts) {
                Ok(at) if at > caller.now => Some(at),
                Ok(_) => {
                    invalid.push("management_token.expire_time", "must be in the future");
                    None
                }
                Err(e) => {
                    invalid.push("management_token.expire_time", e);
                    None
                }
            },
        };
        invalid.finish().map_err(AdminError::from)?;
        let (Some(display_name), Some(permissions)) = (display_name, permissions) else {
            return Err(AdminError::Internal("validated fields missing".into()).into());
        };
        if !caller.token.permissions.covers(&permissions) {
            return Err(AdminError::PermissionDenied(
                "a token can only grant permissions it holds itself, and this token does not hold all of those requested".into(),
            )
            .into());
        }

        let secret = self.state.new_secret(SecretKind::ManagementToken);
        let new = NewManagementToken {
            display_name: display_name.to_string(),
            permissions,
            expires_at,
            digest: secret.digest(),
        };
        let created = management_tokens::create(
            &self.state.store,
            &caller.audit(),
            &organization,
            tenant.as_ref(),
            new,
        )
        .await
        .map_err(AdminError::from_store(&request.parent))?;
        Ok(Response::new(pb::CreateManagementTokenResponse {
            management_token: Some(to_proto(&created)),
            token: secret.expose().to_owned(),
        }))
    }

    async fn list_management_tokens(
        &self,
        request: Request<pb::ListManagementTokensRequest>,
    ) -> Result<Response<pb::ListManagementTokensResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let parent = TokenParent::parse("parent", &request.parent)?;
        let page = pagination::request(request.page_size, &request.page_token)?;
        let (organization, tenant) = self.owner(&caller, &parent).await?;
        let page =
            management_tokens::list(&self.state.store, &organization, tenant.as_ref(), &page)
                .await
                .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListManagementTokensResponse {
            next_page_token: pagination::next_token(&page),
            management_tokens: page.items.iter().map(to_proto).collect(),
        }))
    }

    async fn revoke_management_token(
        &self,
        request: Request<pb::RevokeManagementTokenRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let name = TokenName::parse("name", &request.name)?;
        caller.acting_on(request.name.clone());
        let (organization, tenant) = self.owner(&caller, &name.parent).await?;
        management_tokens::revoke(
            &self.state.store,
            &caller.audit(),
            &organization,
            tenant.as_ref(),
            &name.id,
        )
        .await
        .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(()))
    }
}

fn to_proto(t: &ManagementToken) -> pb::ManagementToken {
    pb::ManagementToken {
        name: t.resource_name(),
        display_name: t.display_name.clone(),
        permissions: t.permissions.names(),
        expire_time: convert::optional_timestamp(t.expires_at),
        create_time: Some(convert::timestamp(t.created_at)),
        last_use_time: convert::optional_timestamp(t.last_used_at),
        revoke_time: convert::optional_timestamp(t.revoked_at),
    }
}
