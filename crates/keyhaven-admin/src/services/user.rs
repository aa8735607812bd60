//! `UserService`: the end users of a tenant and their passwords.

use keyhaven_core::Invalid;
use keyhaven_core::model::{Tenant, User};
use keyhaven_core::password::Password;
use keyhaven_core::username::{Email, Username};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::users::{self, NewUser};
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::names::{self, UserName};
use crate::pagination;
use crate::state::AdminState;

pub struct UserApi {
    state: AdminState,
}

impl UserApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }

    async fn load(
        &self,
        caller: &Caller,
        field: &str,
        raw: &str,
    ) -> Result<(Tenant, User), AdminError> {
        let name = UserName::parse(field, raw)?;
        caller.acting_on(raw.to_owned());
        let tenant = caller.tenant(&self.state, &name.tenant).await?;
        let user = users::get(&self.state.store, &tenant.id, &name.id)
            .await?
            .ok_or_else(|| AdminError::NotFound(raw.to_owned()))?;
        Ok((tenant, user))
    }

    async fn hash(
        &self,
        password: Password,
    ) -> Result<keyhaven_core::password::PasswordHash, AdminError> {
        self.state
            .hasher
            .hash(password, self.state.new_salt())
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))
    }
}

const UPDATABLE: &[&str] = &["email", "given_name", "family_name", "disabled"];
const MAX_NAME_CHARS: usize = 100;

fn person_name(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters long"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(raw.trim().to_owned())
}

fn email(raw: &str) -> Result<Option<Email>, String> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Email::parse(raw).map(Some).map_err(|e| e.to_string())
    }
}

#[tonic::async_trait]
impl pb::user_service_server::UserService for UserApi {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        caller.acting_on(request.parent.clone());
        let tenant = caller.tenant(&self.state, &slug).await?;
        let user = request
            .user
            .ok_or_else(|| AdminError::invalid("user", "is required"))?;

        let mut invalid = Invalid::default();
        let username = invalid.check("user.username", Username::parse(&user.username));
        let email = invalid.check("user.email", email(&user.email));
        let given_name = invalid.check("user.given_name", person_name(&user.given_name));
        let family_name = invalid.check("user.family_name", person_name(&user.family_name));
        let password = invalid.check("password", Password::parse(&request.password));
        invalid.finish().map_err(AdminError::from)?;
        let (Some(username), Some(email), Some(given_name), Some(family_name), Some(password)) =
            (username, email, given_name, family_name, password)
        else {
            return Err(AdminError::Internal("validated fields missing".into()).into());
        };
        let new = NewUser {
            username,
            email,
            given_name,
            family_name,
            password_hash: self.hash(password).await?,
        };
        let created = users::create(&self.state.store, &caller.audit(), &tenant, new)
            .await
            .map_err(AdminError::from_store("user"))?;
        Ok(Response::new(to_proto(&tenant, &created)))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = Caller::of(&request)?;
        let (tenant, user) = self.load(&caller, "name", &request.get_ref().name).await?;
        Ok(Response::new(to_proto(&tenant, &user)))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        let page = pagination::request(request.page_size, &request.page_token)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let page = users::list(&self.state.store, &tenant.id, &page)
            .await
            .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListUsersResponse {
            next_page_token: pagination::next_token(&page),
            users: page.items.iter().map(|u| to_proto(&tenant, u)).collect(),
        }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let user = request
            .user
            .ok_or_else(|| AdminError::invalid("user", "is required"))?;
        let (tenant, current) = self.load(&caller, "user.name", &user.name).await?;
        let paths = convert::update_paths(request.update_mask.as_ref(), UPDATABLE)?;
        let expected = convert::expected_version("user.etag", &user.etag)?;

        let mut invalid = Invalid::default();
        let selected = |path: &str| paths.contains(&path);
        let email = selected("email")
            .then(|| invalid.check("user.email", email(&user.email)))
            .flatten();
        let given_name = selected("given_name")
            .then(|| invalid.check("user.given_name", person_name(&user.given_name)))
            .flatten();
        let family_name = selected("family_name")
            .then(|| invalid.check("user.family_name", person_name(&user.family_name)))
            .flatten();
        invalid.finish().map_err(AdminError::from)?;

        let updated = users::update(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &current.id,
            expected,
            |u| {
                if let Some(email) = email {
                    u.email = email;
                }
                if let Some(name) = given_name {
                    u.given_name = name;
                }
                if let Some(name) = family_name {
                    u.family_name = name;
                }
                if selected("disabled") {
                    u.disabled = user.disabled;
                }
            },
        )
        .await
        .map_err(AdminError::from_store(&user.name))?;
        Ok(Response::new(to_proto(&tenant, &updated)))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let name = request.into_inner().name;
        let (tenant, user) = self.load(&caller, "name", &name).await?;
        users::delete(&self.state.store, &caller.audit(), &tenant, &user.id)
            .await
            .map_err(AdminError::from_store(&name))?;
        Ok(Response::new(()))
    }

    async fn set_password(
        &self,
        request: Request<pb::SetPasswordRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let (tenant, user) = self.load(&caller, "name", &request.name).await?;
        let password = Password::parse(&request.password)
            .map_err(|e| AdminError::invalid("password", e.to_string()))?;
        let hash = self.hash(password).await?;
        users::update(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &user.id,
            None,
            |u| {
                u.password_hash = hash;
            },
        )
        .await
        .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(()))
    }
}

fn to_proto(tenant: &Tenant, u: &User) -> pb::User {
    pb::User {
        name: format!("tenants/{}/users/{}", tenant.slug, u.id),
        username: u.username.to_string(),
        email: u
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        disabled: u.disabled,
        etag: convert::etag(u.version),
        create_time: Some(convert::timestamp(u.created_at)),
        update_time: Some(convert::timestamp(u.updated_at)),
    }
}
