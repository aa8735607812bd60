//! `OrganizationService`: the organization a token belongs to.

use keyhaven_core::model::Organization;
use keyhaven_proto::admin::v1 as pb;
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::names;
use crate::pagination;
use crate::state::AdminState;

pub struct OrganizationApi {
    state: AdminState,
}

impl OrganizationApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl pb::organization_service_server::OrganizationService for OrganizationApi {
    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let caller = Caller::of(&request)?;
        let slug = names::organization("name", &request.get_ref().name)?;
        let org = caller.organization(&self.state, &slug).await?;
        Ok(Response::new(to_proto(&org)))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        // A token reaches exactly one organization; the page arguments are still checked
        // so that a client's paging loop behaves as with any other list.
        let page = pagination::request(request.page_size, &request.page_token)?;
        let organizations = if page.after.is_some() {
            Vec::new()
        } else {
            let slug = caller.token.organization_slug.clone();
            vec![to_proto(&caller.organization(&self.state, &slug).await?)]
        };
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations,
            next_page_token: String::new(),
        }))
    }
}

fn to_proto(org: &Organization) -> pb::Organization {
    pb::Organization {
        name: format!("organizations/{}", org.slug),
        slug: org.slug.to_string(),
        display_name: org.display_name.clone(),
        create_time: Some(convert::timestamp(org.created_at)),
    }
}
