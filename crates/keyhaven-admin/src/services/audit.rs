//! `AuditService`: the audit log of an organization or one of its tenants.

use keyhaven_core::model::AuditEvent;
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::audit;
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::names::TokenParent;
use crate::pagination;
use crate::state::AdminState;

pub struct AuditApi {
    state: AdminState,
}

impl AuditApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let page = pagination::request(request.page_size, &request.page_token)?;
        let tenant = match TokenParent::parse("parent", &request.parent)? {
            TokenParent::Organization(slug) => {
                caller.require_organization_token("reading the organization's audit log")?;
                caller.organization(&self.state, &slug).await?;
                None
            }
            TokenParent::Tenant(slug) => Some(caller.tenant(&self.state, &slug).await?),
        };
        let page = audit::list(
            &self.state.store,
            &caller.token.organization_id,
            tenant.as_ref().map(|t| &t.id),
            &page,
        )
        .await
        .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            next_page_token: pagination::next_token(&page),
            audit_events: page.items.iter().map(to_proto).collect(),
        }))
    }
}

fn to_proto(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        actor: e.actor.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        outcome: e.outcome.clone(),
        tenant: e
            .tenant
            .as_ref()
            .map(|(_, slug)| format!("tenants/{slug}"))
            .unwrap_or_default(),
        create_time: Some(convert::timestamp(e.created_at)),
    }
}
