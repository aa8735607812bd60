//! `SessionService`: the sign-in sessions of a tenant's users, and ending them.
//!
//! Ending a session goes through `sessions::end_audited`, the same transaction the
//! public logouts use plus the audit event, so an administrator's revoke and a user's
//! logout leave the session's tokens in the same state on every replica.

use keyhaven_core::model::{Session, Tenant};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::revocations::Reason;
use keyhaven_store::sessions::{self, SessionFilter};
use keyhaven_store::{applications, users};
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::names::{self, ApplicationName, SessionName, UserName};
use crate::pagination;
use crate::state::AdminState;

pub struct SessionApi {
    state: AdminState,
}

impl SessionApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }

    async fn load(&self, caller: &Caller, raw: &str) -> Result<(Tenant, Session), AdminError> {
        let name = SessionName::parse("name", raw)?;
        caller.acting_on(raw.to_owned());
        let tenant = caller.tenant(&self.state, &name.tenant).await?;
        let session = sessions::get(&self.state.store, &tenant.id, &name.id)
            .await?
            .ok_or_else(|| AdminError::NotFound(raw.to_owned()))?;
        Ok((tenant, session))
    }

    async fn to_proto(
        &self,
        tenant: &Tenant,
        session: &Session,
    ) -> Result<pb::Session, AdminError> {
        let client_ids =
            sessions::client_ids_of(&self.state.store, &tenant.id, &session.id).await?;
        Ok(pb::Session {
            name: sessions::resource_name(tenant, &session.id),
            user: format!("tenants/{}/users/{}", tenant.slug, session.user_id),
            applications: client_ids
                .iter()
                .map(|id| format!("tenants/{}/applications/{id}", tenant.slug))
                .collect(),
            auth_time: Some(convert::timestamp(session.auth_time)),
            amr: session.amr.clone(),
            expire_time: Some(convert::timestamp(session.expires_at)),
            idle_expire_time: convert::optional_timestamp(session.idle_expires_at),
            end_time: convert::optional_timestamp(session.ended_at),
            create_time: Some(convert::timestamp(session.created_at)),
            device_id: session.device_id.clone().unwrap_or_default(),
        })
    }

    /// The listing's filter, from resource names that must be under `tenant`. A user or
    /// application that does not exist matches no session (`None`), like one that has none.
    async fn filter(
        &self,
        tenant: &Tenant,
        request: &pb::ListSessionsRequest,
    ) -> Result<Option<SessionFilter>, AdminError> {
        let mut filter = SessionFilter {
            include_ended: request.include_ended,
            ..SessionFilter::default()
        };
        let outside = |field: &str| {
            AdminError::invalid(field, format!("must name a resource of {}", request.parent))
        };
        if !request.user.is_empty() {
            let user = UserName::parse("user", &request.user)?;
            if user.tenant != tenant.slug {
                return Err(outside("user"));
            }
            if users::get(&self.state.store, &tenant.id, &user.id)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            filter.user_id = Some(user.id);
        }
        if !request.application.is_empty() {
            let app = ApplicationName::parse("application", &request.application)?;
            if app.tenant != tenant.slug {
                return Err(outside("application"));
            }
            let Some(app) =
                applications::get(&self.state.store, &tenant.id, &app.client_id).await?
            else {
                return Ok(None);
            };
            filter.application = Some(app.id);
        }
        Ok(Some(filter))
    }
}

#[tonic::async_trait]
impl pb::session_service_server::SessionService for SessionApi {
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        let page = pagination::request(request.page_size, &request.page_token)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let Some(filter) = self.filter(&tenant, &request).await? else {
            return Ok(Response::new(pb::ListSessionsResponse::default()));
        };
        let page = sessions::list(&self.state.store, &tenant.id, &filter, &page, caller.now)
            .await
            .map_err(AdminError::from)?;
        let mut listed = Vec::with_capacity(page.items.len());
        for session in &page.items {
            listed.push(self.to_proto(&tenant, session).await?);
        }
        Ok(Response::new(pb::ListSessionsResponse {
            next_page_token: pagination::next_token(&page),
            sessions: listed,
        }))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = Caller::of(&request)?;
        let (tenant, session) = self.load(&caller, &request.get_ref().name).await?;
        Ok(Response::new(self.to_proto(&tenant, &session).await?))
    }

    async fn revoke_session(
        &self,
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let caller = Caller::of(&request)?;
        let name = request.into_inner().name;
        let (tenant, session) = self.load(&caller, &name).await?;
        let ended = sessions::end_audited(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &session.id,
            Reason::SessionRevoked,
            caller.now,
        )
        .await
        .map_err(AdminError::from_store(&name))?
        .ok_or_else(|| AdminError::NotFound(name.clone()))?;
        let reason = Reason::SessionRevoked.as_str();
        self.state.metrics.revoked(tenant.slug.as_str(), reason);
        let session = Session {
            ended_at: ended.session.ended_at.or(Some(caller.now)),
            ..ended.session
        };
        Ok(Response::new(self.to_proto(&tenant, &session).await?))
    }

    async fn native_sso_logout(
        &self,
        request: Request<pb::NativeSsoLogoutRequest>,
    ) -> Result<Response<pb::NativeSsoLogoutResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        caller.acting_on(request.parent.clone());
        let tenant = caller.tenant(&self.state, &slug).await?;
        if request.session_id.is_empty() {
            return Err(AdminError::invalid("session_id", "is required").into());
        }
        let sid = names::session_id(&request.session_id).ok_or_else(|| {
            AdminError::invalid(
                "session_id",
                "is not a session id: up to 128 of A-Z, a-z, 0-9, '-' and '_'",
            )
        })?;
        caller.acting_on(sessions::resource_name(&tenant, &sid));
        let ended = sessions::end_audited(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &sid,
            Reason::NativeSsoLogout,
            caller.now,
        )
        .await
        .map_err(AdminError::from)?;
        if ended.is_some() {
            let reason = Reason::NativeSsoLogout.as_str();
            self.state.metrics.revoked(tenant.slug.as_str(), reason);
        }
        Ok(Response::new(pb::NativeSsoLogoutResponse {
            deleted_count: ended.map_or(0, |e| deleted_count(&e)),
        }))
    }
}

/// The refresh tokens this call revoked, plus the live access tokens known by `jti`
/// when this call is what ended the session: a session that had ended already had its
/// access tokens invalidated then, so a repeated logout deletes nothing.
fn deleted_count(ended: &sessions::Ended) -> i64 {
    let access = if ended.ended_now {
        ended.access_tokens
    } else {
        0
    };
    i64::try_from(ended.refresh_tokens.saturating_add(access)).unwrap_or(i64::MAX)
}
