//! `ApplicationService`: applications, their redirect URIs, environments and secrets.

use std::time::Duration;

use keyhaven_core::model::{Application, RegisteredRedirectUri, Tenant};
use keyhaven_core::{
    AllowedOrigin, ApplicationType, DisplayName, GrantTypes, Invalid, RedirectUri, ScopeSet,
    SecretKind,
};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::tenants::Created;
use keyhaven_store::{applications, redirect_uris};
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::names::{self, ApplicationName, RedirectUriName};
use crate::pagination;
use crate::state::AdminState;

pub struct ApplicationApi {
    state: AdminState,
}

impl ApplicationApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

const UPDATABLE: &[&str] = &[
    "display_name",
    "grant_types",
    "scopes",
    "first_party",
    "allowed_origins",
    "allow_code_without_pkce",
    "disabled_environments",
    "id_token_signed_response_alg",
    "native_sso",
    "backchannel_logout_uri",
];

const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

#[tonic::async_trait]
impl pb::application_service_server::ApplicationService for ApplicationApi {
    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::CreateApplicationResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        caller.acting_on(request.parent.clone());
        let tenant = caller.tenant(&self.state, &slug).await?;
        let app = request
            .application
            .ok_or_else(|| AdminError::invalid("application", "is required"))?;

        let mut invalid = Invalid::default();
        let app_type = invalid.check("application.type", convert::application_type(app.r#type));
        let display_name = invalid.check(
            "application.display_name",
            DisplayName::parse(&app.display_name),
        );
        let request_id = invalid.check("request_id", convert::request_id(&request.request_id));
        let id_token_alg = invalid.check(
            "application.id_token_signed_response_alg",
            convert::id_token_algorithm(&app.id_token_signed_response_alg),
        );
        let environments = convert::enabled_environments(
            "application.disabled_environments",
            &app.disabled_environments,
            &mut invalid,
        );
        let settings = app_type.map(|t| Settings::parse(t, &app, None, &mut invalid));
        // None when invalid too, which `finish` below turns into the error.
        let backchannel_logout_uri = invalid
            .check(
                "application.backchannel_logout_uri",
                convert::backchannel_logout_uri(&app.backchannel_logout_uri),
            )
            .flatten();
        let native_sso = app_type.and_then(|t| {
            invalid.check(
                "application.native_sso",
                Application::native_sso_for(t, app.native_sso),
            )
        });
        invalid.finish().map_err(AdminError::from)?;
        let (
            Some(app_type),
            Some(display_name),
            Some(request_id),
            Some(settings),
            Some(id_token_alg),
            Some(native_sso),
        ) = (
            app_type,
            display_name,
            request_id,
            settings,
            id_token_alg,
            native_sso,
        )
        else {
            return Err(AdminError::Internal("validated fields missing".into()).into());
        };

        let secret = app_type
            .is_confidential()
            .then(|| self.state.new_secret(SecretKind::ClientSecret));
        let new = applications::NewApplication {
            client_id: self.state.new_client_id(),
            display_name,
            app_type,
            grant_types: settings
                .grant_types
                .unwrap_or_else(|| app_type.default_grant_types()),
            scopes: settings.scopes.unwrap_or_default(),
            first_party: app.first_party,
            allowed_origins: settings.allowed_origins.unwrap_or_default(),
            allow_code_without_pkce: app.allow_code_without_pkce,
            environments,
            id_token_signed_response_alg: id_token_alg,
            backchannel_logout_uri,
            native_sso,
        };
        let created = applications::create(
            &self.state.store,
            &caller.audit(),
            &tenant,
            new,
            secret.as_ref().map(|s| s.digest()),
            request_id,
        )
        .await
        .map_err(AdminError::from_store("application"))?;
        let (app, client_secret) = match created {
            Created::New(app) => (
                app,
                secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
            ),
            // The secret was shown once, to the first request.
            Created::Replayed(app) => (app, String::new()),
        };
        Ok(Response::new(pb::CreateApplicationResponse {
            application: Some(to_proto(&tenant, &app)),
            client_secret,
        }))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = Caller::of(&request)?;
        let (tenant, app) = self.load(&caller, "name", &request.get_ref().name).await?;
        Ok(Response::new(to_proto(&tenant, &app)))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        let page = pagination::request(request.page_size, &request.page_token)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let page = applications::list(&self.state.store, &tenant.id, &page)
            .await
            .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListApplicationsResponse {
            next_page_token: pagination::next_token(&page),
            applications: page.items.iter().map(|a| to_proto(&tenant, a)).collect(),
        }))
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let app = request
            .application
            .ok_or_else(|| AdminError::invalid("application", "is required"))?;
        let (tenant, current) = self.load(&caller, "application.name", &app.name).await?;
        let paths = convert::update_paths(request.update_mask.as_ref(), UPDATABLE)?;
        let expected = convert::expected_version("application.etag", &app.etag)?;

        let mut invalid = Invalid::default();
        let display_name = paths
            .contains(&"display_name")
            .then(|| {
                invalid.check(
                    "application.display_name",
                    DisplayName::parse(&app.display_name),
                )
            })
            .flatten();
        let environments = paths.contains(&"disabled_environments").then(|| {
            convert::enabled_environments(
                "application.disabled_environments",
                &app.disabled_environments,
                &mut invalid,
            )
        });
        let settings = Settings::parse(current.app_type, &app, Some(&paths), &mut invalid);
        let backchannel_logout_uri = paths
            .contains(&"backchannel_logout_uri")
            .then(|| {
                invalid.check(
                    "application.backchannel_logout_uri",
                    convert::backchannel_logout_uri(&app.backchannel_logout_uri),
                )
            })
            .flatten();
        let id_token_alg = paths
            .contains(&"id_token_signed_response_alg")
            .then(|| {
                invalid.check(
                    "application.id_token_signed_response_alg",
                    convert::id_token_algorithm(&app.id_token_signed_response_alg),
                )
            })
            .flatten();
        let native_sso = paths
            .contains(&"native_sso")
            .then(|| {
                invalid.check(
                    "application.native_sso",
                    Application::native_sso_for(current.app_type, app.native_sso),
                )
            })
            .flatten();
        invalid.finish().map_err(AdminError::from)?;

        let updated = applications::update(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &current.client_id,
            expected,
            |a| {
                if let Some(name) = &display_name {
                    a.display_name = name.clone();
                }
                if let Some(envs) = environments {
                    a.environments = envs;
                }
                if let Some(grants) = &settings.grant_types {
                    a.grant_types = grants.clone();
                }
                if let Some(scopes) = &settings.scopes {
                    a.scopes = scopes.clone();
                }
                if let Some(origins) = &settings.allowed_origins {
                    a.allowed_origins = origins.clone();
                }
                if paths.contains(&"first_party") {
                    a.first_party = app.first_party;
                }
                if paths.contains(&"allow_code_without_pkce") {
                    a.allow_code_without_pkce = app.allow_code_without_pkce;
                }
                if let Some(alg) = id_token_alg {
                    a.id_token_signed_response_alg = alg;
                }
                if let Some(uri) = &backchannel_logout_uri {
                    a.backchannel_logout_uri = uri.clone();
                }
                if let Some(native_sso) = native_sso {
                    a.native_sso = native_sso;
                }
                Ok::<(), AdminError>(())
            },
        )
        .await
        .map_err(AdminError::from_store(&app.name))??;
        Ok(Response::new(to_proto(&tenant, &updated)))
    }

    async fn delete_application(
        &self,
        request: Request<pb::DeleteApplicationRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let (tenant, app) = self.load(&caller, "name", &request.name).await?;
        let expected = convert::expected_version("etag", &request.etag)?;
        applications::delete(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &app.client_id,
            expected,
        )
        .await
        .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(()))
    }

    async fn create_redirect_uri(
        &self,
        request: Request<pb::CreateRedirectUriRequest>,
    ) -> Result<Response<pb::RedirectUri>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let (tenant, app) = self.load(&caller, "parent", &request.parent).await?;
        let uri = request
            .redirect_uri
            .ok_or_else(|| AdminError::invalid("redirect_uri", "is required"))?;
        if app.app_type == ApplicationType::Service {
            return Err(AdminError::FailedPrecondition(
                "service applications use client_credentials only and have no redirect URIs".into(),
            )
            .into());
        }
        let mut invalid = Invalid::default();
        let purpose = invalid.check("redirect_uri.purpose", convert::purpose(uri.purpose));
        let environment = invalid.check(
            "redirect_uri.environment",
            convert::environment("redirect_uri.environment", uri.environment),
        );
        let parsed = environment.and_then(|env| {
            invalid.check(
                "redirect_uri.uri",
                RedirectUri::parse(&uri.uri, env, app.app_type),
            )
        });
        invalid.finish().map_err(AdminError::from)?;
        let (Some(purpose), Some(parsed)) = (purpose, parsed) else {
            return Err(AdminError::Internal("validated fields missing".into()).into());
        };
        let registered = redirect_uris::create(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &app,
            parsed,
            purpose,
        )
        .await
        .map_err(AdminError::from_store(&request.parent))?;
        Ok(Response::new(redirect_uri_to_proto(
            &tenant,
            &app,
            &registered,
        )))
    }

    async fn list_redirect_uris(
        &self,
        request: Request<pb::ListRedirectUrisRequest>,
    ) -> Result<Response<pb::ListRedirectUrisResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let page = pagination::request(request.page_size, &request.page_token)?;
        let (tenant, app) = self.load(&caller, "parent", &request.parent).await?;
        let page = redirect_uris::list(&self.state.store, &tenant.id, &app.id, &page)
            .await
            .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListRedirectUrisResponse {
            next_page_token: pagination::next_token(&page),
            redirect_uris: page
                .items
                .iter()
                .map(|u| redirect_uri_to_proto(&tenant, &app, u))
                .collect(),
        }))
    }

    async fn delete_redirect_uri(
        &self,
        request: Request<pb::DeleteRedirectUriRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let name = RedirectUriName::parse("name", &request.name)?;
        caller.acting_on(request.name.clone());
        let tenant = caller.tenant(&self.state, &name.application.tenant).await?;
        let app = self.app_of(&tenant, &name.application).await?;
        redirect_uris::delete(&self.state.store, &caller.audit(), &tenant, &app, &name.id)
            .await
            .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(()))
    }

    async fn set_environment_enabled(
        &self,
        request: Request<pb::SetEnvironmentEnabledRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let (tenant, app) = self.load(&caller, "name", &request.name).await?;
        let environment = convert::environment("environment", request.environment)
            .map_err(|why| AdminError::invalid("environment", why))?;
        let updated = applications::update(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &app.client_id,
            None,
            |a| {
                a.environments.set(environment, request.enabled);
                Ok::<(), AdminError>(())
            },
        )
        .await
        .map_err(AdminError::from_store(&request.name))??;
        Ok(Response::new(to_proto(&tenant, &updated)))
    }

    async fn rotate_client_secret(
        &self,
        request: Request<pb::RotateClientSecretRequest>,
    ) -> Result<Response<pb::RotateClientSecretResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let (tenant, app) = self.load(&caller, "name", &request.name).await?;
        if !app.app_type.is_confidential() {
            return Err(AdminError::FailedPrecondition(format!(
                "{} applications are public clients and have no client secret",
                app.app_type
            ))
            .into());
        }
        let grace = match &request.previous_secret_grace {
            None => DEFAULT_GRACE,
            Some(d) => {
                let seconds = convert::seconds("previous_secret_grace", d)?;
                u64::try_from(seconds)
                    .ok()
                    .map(Duration::from_secs)
                    .filter(|g| *g <= MAX_GRACE)
                    .ok_or_else(|| {
                        AdminError::invalid(
                            "previous_secret_grace",
                            "must be between 0 and 30 days",
                        )
                    })?
            }
        };
        let secret = self.state.new_secret(SecretKind::ClientSecret);
        let until = caller.now.saturating_add(grace);
        applications::rotate_secret(
            &self.state.store,
            &caller.audit(),
            &tenant,
            &app.client_id,
            secret.digest(),
            until,
        )
        .await
        .map_err(AdminError::from_store(&request.name))?;
        Ok(Response::new(pb::RotateClientSecretResponse {
            client_secret: secret.expose().to_owned(),
            expire_time: Some(convert::timestamp(until)),
        }))
    }
}

/// The fields whose rules depend on the application type. In an update (`paths` given)
/// only those in the mask are parsed; the rest stay `None`.
struct Settings {
    grant_types: Option<GrantTypes>,
    scopes: Option<ScopeSet>,
    allowed_origins: Option<Vec<AllowedOrigin>>,
}

impl Settings {
    fn parse(
        app_type: ApplicationType,
        app: &pb::Application,
        paths: Option<&[&str]>,
        invalid: &mut Invalid,
    ) -> Self {
        let selected = |path: &str| paths.is_none_or(|p| p.contains(&path));
        if selected("allow_code_without_pkce")
            && app.allow_code_without_pkce
            && !app_type.is_confidential()
        {
            invalid.push(
                "application.allow_code_without_pkce",
                format!("{app_type} applications are public clients and always require PKCE"),
            );
        }
        Self {
            grant_types: selected("grant_types")
                .then(|| {
                    invalid.check(
                        "application.grant_types",
                        GrantTypes::for_application(app_type, &app.grant_types),
                    )
                })
                .flatten(),
            scopes: selected("scopes")
                .then(|| invalid.check("application.scopes", ScopeSet::parse_list(&app.scopes)))
                .flatten(),
            allowed_origins: selected("allowed_origins")
                .then(|| {
                    if app.allowed_origins.is_empty() {
                        Some(Vec::new())
                    } else {
                        invalid.check(
                            "application.allowed_origins",
                            AllowedOrigin::parse_list(&app.allowed_origins, app_type),
                        )
                    }
                })
                .flatten(),
        }
    }
}

impl ApplicationApi {
    /// The tenant and application a `tenants/{t}/applications/{id}` name points at, if
    /// the caller reaches them.
    async fn load(
        &self,
        caller: &Caller,
        field: &str,
        raw: &str,
    ) -> Result<(Tenant, Application), AdminError> {
        let name = ApplicationName::parse(field, raw)?;
        caller.acting_on(raw.to_owned());
        let tenant = caller.tenant(&self.state, &name.tenant).await?;
        let app = self.app_of(&tenant, &name).await?;
        Ok((tenant, app))
    }

    async fn app_of(
        &self,
        tenant: &Tenant,
        name: &ApplicationName,
    ) -> Result<Application, AdminError> {
        applications::get(&self.state.store, &tenant.id, &name.client_id)
            .await?
            .ok_or_else(|| {
                AdminError::NotFound(format!(
                    "tenants/{}/applications/{}",
                    tenant.slug, name.client_id
                ))
            })
    }
}

fn to_proto(tenant: &Tenant, a: &Application) -> pb::Application {
    pb::Application {
        name: format!("tenants/{}/applications/{}", tenant.slug, a.client_id),
        client_id: a.client_id.to_string(),
        display_name: a.display_name.to_string(),
        r#type: convert::application_type_to_proto(a.app_type) as i32,
        grant_types: a
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: a.scopes.iter().map(|s| s.to_string()).collect(),
        first_party: a.first_party,
        allowed_origins: a
            .allowed_origins
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
        token_endpoint_auth_method: a.token_endpoint_auth_method().to_owned(),
        allow_code_without_pkce: a.allow_code_without_pkce,
        disabled_environments: convert::disabled_environments(a.environments),
        id_token_signed_response_alg: a.id_token_signed_response_alg.as_str().to_owned(),
        backchannel_logout_uri: a
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
        native_sso: a.native_sso,
        etag: convert::etag(a.version),
        create_time: Some(convert::timestamp(a.created_at)),
        update_time: Some(convert::timestamp(a.updated_at)),
    }
}

fn redirect_uri_to_proto(
    tenant: &Tenant,
    app: &Application,
    u: &RegisteredRedirectUri,
) -> pb::RedirectUri {
    let env = u.uri.environment();
    pb::RedirectUri {
        name: format!(
            "tenants/{}/applications/{}/redirectUris/{}",
            tenant.slug, app.client_id, u.id
        ),
        uri: u.uri.to_string(),
        purpose: convert::purpose_to_proto(u.purpose) as i32,
        environment: convert::environment_to_proto(env) as i32,
        enabled: tenant.environments.contains(env) && app.environments.contains(env),
        create_time: Some(convert::timestamp(u.created_at)),
    }
}
