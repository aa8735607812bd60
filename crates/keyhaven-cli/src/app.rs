//! `keyhaven app ...`: applications (OAuth clients) in ApplicationService.

use std::time::Duration;

use clap::{ArgAction, Args, Subcommand, ValueEnum};
use keyhaven_proto::admin::v1::application_service_client::ApplicationServiceClient;
use keyhaven_proto::admin::v1::{
    Application, ApplicationType, CreateApplicationRequest, DeleteApplicationRequest, Environment,
    GetApplicationRequest, ListApplicationsRequest, RotateClientSecretRequest,
    RotateClientSecretResponse, SetEnvironmentEnabledRequest, UpdateApplicationRequest,
};
use prost_types::FieldMask;

use crate::connection::Connection;
use crate::duration;
use crate::environment::{self, EnvironmentArg};
use crate::error::CliError;
use crate::output::{Printer, Record, Value, enum_label, note};
use crate::paging::{self, Page, PageArgs};
use crate::tenant;

/// Applications are the OAuth clients of a tenant.
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Register an application; a confidential one's client secret is printed once
    Create(CreateArgs),
    /// Show one application
    Get(AppRef),
    /// List a tenant's applications
    List {
        /// The tenant: its slug (acme) or resource name (tenants/acme)
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: PageArgs,
    },
    /// Change an application; only the given flags are changed
    Update(UpdateArgs),
    /// Delete an application and its redirect URIs
    Delete {
        #[command(flatten)]
        app: AppRef,
        /// Fail with ABORTED unless this is the application's current etag
        #[arg(long)]
        etag: Option<String>,
    },
    /// Issue a new client secret; the previous one keeps working for a grace period
    RotateSecret {
        #[command(flatten)]
        app: AppRef,
        /// How long the previous secret keeps working, 0s to 30d (default 24h)
        #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
        grace: Option<Duration>,
    },
    /// Switch an environment off or on for one application; its redirect URIs stay
    /// registered
    Env {
        #[command(flatten)]
        app: AppRef,
        /// The environment to switch
        #[arg(long)]
        environment: EnvironmentArg,
        /// true to switch it on, false to switch it off
        #[arg(long, action = ArgAction::Set, value_name = "true|false")]
        enabled: bool,
    },
}

/// Which application: its resource name, or its client ID with `--tenant`.
#[derive(Args, Debug)]
pub struct AppRef {
    /// The application: tenants/<tenant>/applications/<client_id>, or a client ID with
    /// --tenant
    #[arg(value_name = "APP")]
    pub app: String,
    /// The tenant of a bare client ID: its slug (acme) or tenants/acme
    #[arg(long)]
    pub tenant: Option<String>,
}

impl AppRef {
    fn resource_name(&self) -> Result<String, CliError> {
        resource_name(self.tenant.as_deref(), &self.app)
    }
}

/// What kind of client an application is.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// A server-side web application: confidential, authenticates with its secret
    Web,
    /// A browser application: public, must use PKCE
    Spa,
    /// A mobile or desktop application: public, must use PKCE
    Native,
    /// A machine client: confidential, client_credentials only
    Service,
}

impl From<AppType> for ApplicationType {
    fn from(app_type: AppType) -> Self {
        match app_type {
            AppType::Web => ApplicationType::Web,
            AppType::Spa => ApplicationType::Spa,
            AppType::Native => ApplicationType::Native,
            AppType::Service => ApplicationType::Service,
        }
    }
}

/// The `id_token_signed_response_alg` values the server accepts.
const ID_TOKEN_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The tenant: its slug (acme) or resource name (tenants/acme)
    #[arg(long)]
    pub tenant: String,
    /// Name shown on the consent page and in lists
    #[arg(long)]
    pub display_name: String,
    /// What kind of client it is; cannot be changed later
    #[arg(long = "type", value_name = "TYPE")]
    pub app_type: AppType,
    /// An OAuth grant type it may use, such as authorization_code; repeat for more
    /// (default: the type's defaults)
    #[arg(long = "grant-type", value_name = "GRANT_TYPE")]
    pub grant_types: Vec<String>,
    /// A scope it may request, such as openid; repeat for more
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A first-party application skips the consent page
    #[arg(long)]
    pub first_party: bool,
    /// A browser origin allowed to call the token endpoint (spa only); repeat for more
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Let a confidential application use the authorization code grant without PKCE
    /// (for older relying parties); public applications always need PKCE
    #[arg(long)]
    pub allow_code_without_pkce: bool,
    /// What its ID tokens are signed with (default RS256, which every relying party
    /// supports)
    #[arg(long, value_name = "ALG", value_parser = ID_TOKEN_ALGS)]
    pub id_token_signed_response_alg: Option<String>,
    /// Let a native application take part in Native SSO (scope device_sso and the
    /// token-exchange grant)
    #[arg(long)]
    pub native_sso: bool,
    /// Any id of your choosing: retrying a create with the same id returns the
    /// application created the first time (without its secret)
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub app: AppRef,
    /// New display name
    #[arg(long)]
    pub display_name: Option<String>,
    /// An OAuth grant type it may use; repeat for more. Replaces the current list
    #[arg(long = "grant-type", value_name = "GRANT_TYPE")]
    pub grant_types: Vec<String>,
    /// A scope it may request; repeat for more. Replaces the current list
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Whether it skips the consent page
    #[arg(long, value_name = "true|false")]
    pub first_party: Option<bool>,
    /// A browser origin allowed to call the token endpoint; repeat for more. Replaces the
    /// current list
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Whether a confidential application may use the authorization code grant without
    /// PKCE
    #[arg(long, value_name = "true|false")]
    pub allow_code_without_pkce: Option<bool>,
    /// What its ID tokens are signed with
    #[arg(long, value_name = "ALG", value_parser = ID_TOKEN_ALGS)]
    pub id_token_signed_response_alg: Option<String>,
    /// Whether a native application takes part in Native SSO
    #[arg(long, value_name = "true|false")]
    pub native_sso: Option<bool>,
    /// Switch an environment off for this application; repeat for more. Replaces the
    /// current list: environments not named are switched back on
    #[arg(long = "disable-env", value_name = "ENV")]
    pub disable_env: Vec<EnvironmentArg>,
    /// Switch every environment back on for this application
    #[arg(long, conflicts_with = "disable_env")]
    pub enable_all_envs: bool,
    /// Fail with ABORTED unless this is the application's current etag
    #[arg(long)]
    pub etag: Option<String>,
}

pub(crate) async fn run(connection: &Connection, command: AppCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        AppCommand::Create(args) => {
            let request = create_request(args);
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let response = client.create_application(request).await?.into_inner();
            let application = response.application.unwrap_or_default();
            let mut shown = record(&application);
            if response.client_secret.is_empty() {
                if is_confidential(&application) {
                    note(
                        "No client secret in this response: it is shown only by the first \
                         create of a --request-id. Use `keyhaven app rotate-secret` for a new one.",
                    );
                }
            } else {
                shown = shown.field("client_secret", response.client_secret);
                note("Store the client secret now: it will not be shown again.");
            }
            printer.one(&shown)
        }
        AppCommand::Get(app) => {
            let name = app.resource_name()?;
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let application = client
                .get_application(GetApplicationRequest { name })
                .await?;
            printer.one(&record(application.get_ref()))
        }
        AppCommand::List { tenant, paging } => {
            let parent = tenant::resource_name(&tenant);
            let client = ApplicationServiceClient::new(connection.connect().await?);
            let applications = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                let request = ListApplicationsRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token,
                };
                async move {
                    let response = client.list_applications(request).await?.into_inner();
                    Ok(Page {
                        items: response.applications,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            let records: Vec<Record> = applications.iter().map(record).collect();
            printer.many("applications", &records)
        }
        AppCommand::Update(args) => {
            let request = update_request(args)?;
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let application = client.update_application(request).await?.into_inner();
            printer.one(&record(&application))
        }
        AppCommand::Delete { app, etag } => {
            let name = app.resource_name()?;
            let request = DeleteApplicationRequest {
                name: name.clone(),
                etag: etag.unwrap_or_default(),
            };
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            client.delete_application(request).await?;
            printer.done(&format!("Deleted {name}."))
        }
        AppCommand::RotateSecret { app, grace } => {
            let name = app.resource_name()?;
            let request = RotateClientSecretRequest {
                name: name.clone(),
                previous_secret_grace: grace.map(duration::to_proto),
            };
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let response = client.rotate_client_secret(request).await?.into_inner();
            note("Store the client secret now: it will not be shown again.");
            printer.one(&rotation_record(&name, &response))
        }
        AppCommand::Env {
            app,
            environment,
            enabled,
        } => {
            let request = SetEnvironmentEnabledRequest {
                name: app.resource_name()?,
                environment: Environment::from(environment) as i32,
                enabled,
            };
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let application = client.set_environment_enabled(request).await?.into_inner();
            printer.one(&record(&application))
        }
    }
}

/// `tenants/acme/applications/<client_id>` from a full name, or from a client ID and the
/// tenant's slug or name.
pub(crate) fn resource_name(tenant: Option<&str>, app: &str) -> Result<String, CliError> {
    if app.starts_with("tenants/") {
        return Ok(app.to_owned());
    }
    match tenant {
        Some(tenant) => Ok(format!(
            "{}/applications/{app}",
            tenant::resource_name(tenant)
        )),
        None => Err(CliError::Usage(format!(
            "which tenant is {app:?} in? Name the application as \
             tenants/<tenant>/applications/<client_id>, or pass --tenant"
        ))),
    }
}

fn create_request(args: CreateArgs) -> CreateApplicationRequest {
    CreateApplicationRequest {
        parent: tenant::resource_name(&args.tenant),
        application: Some(Application {
            display_name: args.display_name,
            r#type: ApplicationType::from(args.app_type) as i32,
            grant_types: args.grant_types,
            scopes: args.scopes,
            first_party: args.first_party,
            allowed_origins: args.allowed_origins,
            allow_code_without_pkce: args.allow_code_without_pkce,
            id_token_signed_response_alg: args.id_token_signed_response_alg.unwrap_or_default(),
            native_sso: args.native_sso,
            ..Application::default()
        }),
        request_id: args.request_id.unwrap_or_default(),
    }
}

/// The application carries only the given fields, and the update mask names exactly those.
fn update_request(args: UpdateArgs) -> Result<UpdateApplicationRequest, CliError> {
    let mut application = Application {
        name: args.app.resource_name()?,
        etag: args.etag.unwrap_or_default(),
        ..Application::default()
    };
    let mut paths = Vec::new();
    if let Some(display_name) = args.display_name {
        application.display_name = display_name;
        paths.push("display_name");
    }
    let lists = [
        (
            args.grant_types,
            &mut application.grant_types,
            "grant_types",
        ),
        (args.scopes, &mut application.scopes, "scopes"),
        (
            args.allowed_origins,
            &mut application.allowed_origins,
            "allowed_origins",
        ),
    ];
    for (given, field, path) in lists {
        if !given.is_empty() {
            *field = given;
            paths.push(path);
        }
    }
    let flags = [
        (
            args.first_party,
            &mut application.first_party,
            "first_party",
        ),
        (
            args.allow_code_without_pkce,
            &mut application.allow_code_without_pkce,
            "allow_code_without_pkce",
        ),
        (args.native_sso, &mut application.native_sso, "native_sso"),
    ];
    for (given, field, path) in flags {
        if let Some(value) = given {
            *field = value;
            paths.push(path);
        }
    }
    if let Some(alg) = args.id_token_signed_response_alg {
        application.id_token_signed_response_alg = alg;
        paths.push("id_token_signed_response_alg");
    }
    if args.enable_all_envs || !args.disable_env.is_empty() {
        application.disabled_environments = environment::to_proto(&args.disable_env);
        paths.push("disabled_environments");
    }
    if paths.is_empty() {
        return Err(CliError::Usage(
            "nothing to update: give at least one of --display-name, --grant-type, --scope, \
             --first-party, --allowed-origin, --allow-code-without-pkce, \
             --id-token-signed-response-alg, --native-sso, --disable-env, --enable-all-envs"
                .to_owned(),
        ));
    }
    Ok(UpdateApplicationRequest {
        application: Some(application),
        update_mask: Some(FieldMask {
            paths: paths.into_iter().map(str::to_owned).collect(),
        }),
    })
}

fn is_confidential(application: &Application) -> bool {
    matches!(
        ApplicationType::try_from(application.r#type),
        Ok(ApplicationType::Web | ApplicationType::Service)
    )
}

/// How an application is shown, in tables and in JSON.
pub(crate) fn record(application: &Application) -> Record {
    let type_name = ApplicationType::try_from(application.r#type)
        .ok()
        .map(|t| t.as_str_name());
    Record::default()
        .field("name", application.name.as_str())
        .detail("client_id", application.client_id.as_str())
        .field("display_name", application.display_name.as_str())
        .field(
            "type",
            enum_label(type_name, "APPLICATION_TYPE_", application.r#type),
        )
        .detail("grant_types", application.grant_types.clone())
        .field("scopes", application.scopes.clone())
        .detail("first_party", application.first_party)
        .detail("allowed_origins", application.allowed_origins.clone())
        .detail(
            "token_endpoint_auth_method",
            application.token_endpoint_auth_method.as_str(),
        )
        .detail(
            "allow_code_without_pkce",
            application.allow_code_without_pkce,
        )
        .field(
            "disabled_environments",
            environment::labels(&application.disabled_environments),
        )
        .detail(
            "id_token_signed_response_alg",
            application.id_token_signed_response_alg.as_str(),
        )
        .detail("native_sso", application.native_sso)
        .detail(
            "backchannel_logout_uri",
            application.backchannel_logout_uri.as_str(),
        )
        .detail("etag", application.etag.as_str())
        .field("create_time", Value::time(application.create_time.as_ref()))
        .detail("update_time", Value::time(application.update_time.as_ref()))
}

/// How a secret rotation is shown: the new secret and when the old one stops working.
fn rotation_record(name: &str, rotation: &RotateClientSecretResponse) -> Record {
    Record::default()
        .field("name", name)
        .field("client_secret", rotation.client_secret.as_str())
        .field(
            "previous_secret_expire_time",
            Value::time(rotation.expire_time.as_ref()),
        )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AppCommand,
    }

    /// The update mask `keyhaven app update <args>` sends, or the error it prints.
    fn update_mask(args: &[&str]) -> Result<Vec<String>, String> {
        let argv = ["app", "update"].iter().chain(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let AppCommand::Update(args) = cli.command else {
            return Err("not an update".to_owned());
        };
        let request = update_request(args).map_err(|e| e.to_string())?;
        Ok(request.update_mask.map(|m| m.paths).unwrap_or_default())
    }

    #[test]
    fn the_application_update_mask_names_only_the_given_flags() {
        assert_eq!(
            update_mask(&[
                "tenants/acme/applications/c1",
                "--scope",
                "openid",
                "--scope",
                "email",
                "--first-party",
                "false",
            ]),
            Ok(vec!["scopes".to_owned(), "first_party".to_owned()])
        );
        assert_eq!(
            update_mask(&[
                "tenants/acme/applications/c1",
                "--id-token-signed-response-alg",
                "EdDSA",
            ]),
            Ok(vec!["id_token_signed_response_alg".to_owned()])
        );
        assert!(
            update_mask(&[
                "tenants/acme/applications/c1",
                "--id-token-signed-response-alg",
                "HS256",
            ])
            .is_err(),
            "only the algorithms the server signs with"
        );
    }

    #[test]
    fn a_bare_client_id_needs_its_tenant() {
        assert_eq!(
            resource_name(Some("acme"), "c1").ok().as_deref(),
            Some("tenants/acme/applications/c1")
        );
        assert_eq!(
            resource_name(None, "tenants/acme/applications/c1")
                .ok()
                .as_deref(),
            Some("tenants/acme/applications/c1")
        );
        assert!(resource_name(None, "c1").is_err());
    }
}
