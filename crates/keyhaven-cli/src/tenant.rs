//! `keyhaven tenant ...`: TenantService.

use std::time::Duration;

use clap::{Args, Subcommand};
use keyhaven_proto::admin::v1::tenant_service_client::TenantServiceClient;
use keyhaven_proto::admin::v1::{
    CreateTenantRequest, DeleteTenantRequest, GetTenantRequest, ListTenantsRequest, Tenant,
    UpdateTenantRequest,
};
use prost_types::FieldMask;

use crate::connection::Connection;
use crate::duration;
use crate::environment::{self, EnvironmentArg};
use crate::error::CliError;
use crate::output::{Printer, Record, Value};
use crate::paging::{self, Page, PageArgs};

/// Tenants are the unit of isolation: each has its own issuer, users, applications and keys.
#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant (needs tenants.write and an organization token)
    Create(CreateArgs),
    /// Show one tenant
    Get {
        /// The tenant: its slug (acme) or resource name (tenants/acme)
        tenant: String,
    },
    /// List the tenants the token reaches (a service token sees its own only)
    List(PageArgs),
    /// Change a tenant's display name or settings; only the given flags are changed
    Update(UpdateArgs),
    /// Delete a tenant and everything under it; its service tokens stop working
    Delete {
        /// The tenant: its slug (acme) or resource name (tenants/acme)
        tenant: String,
        /// Fail with ABORTED unless this is the tenant's current etag (from `tenant get`)
        #[arg(long)]
        etag: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Globally unique, used in URLs (the issuer is <public URL>/t/<slug>): 3 to 63 of a-z,
    /// 0-9 and '-', starting with a letter. Cannot be changed later
    #[arg(long)]
    pub slug: String,
    /// Shown on the sign-in page, at most 100 characters
    #[arg(long)]
    pub display_name: String,
    /// Organization to create it in: its slug or organizations/<slug> (default: the
    /// token's own)
    #[arg(long, value_name = "ORG")]
    pub organization: Option<String>,
    /// Switch an environment off for every application of the tenant; repeat for more.
    /// Its redirect URIs stay registered but match nothing
    #[arg(long = "disable-env", value_name = "ENV")]
    pub disable_env: Vec<EnvironmentArg>,
    /// Lifetime of access tokens, 1m to 24h (default 10m)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub access_token_lifetime: Option<Duration>,
    /// Lifetime of ID tokens, 1m to 24h (default 1h)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub id_token_lifetime: Option<Duration>,
    /// Lifetime of refresh tokens, 1h to 365d (default 30d)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub refresh_token_lifetime: Option<Duration>,
    /// A sign-in session unused for this long ends, 5m to 30d (default 8h)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub session_idle_lifetime: Option<Duration>,
    /// A sign-in session ends this long after sign-in however it is used, 5m to 365d
    /// (default 24h)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub session_absolute_lifetime: Option<Duration>,
    /// Any id of your choosing, up to 64 characters: retrying a create with the same id
    /// returns the tenant created the first time instead of failing or creating another
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The tenant: its slug (acme) or resource name (tenants/acme)
    pub tenant: String,
    /// New display name, at most 100 characters
    #[arg(long)]
    pub display_name: Option<String>,
    /// Switch an environment off for every application; repeat for more. Replaces the
    /// current list: environments not named are switched back on
    #[arg(long = "disable-env", value_name = "ENV")]
    pub disable_env: Vec<EnvironmentArg>,
    /// Switch every environment back on
    #[arg(long, conflicts_with = "disable_env")]
    pub enable_all_envs: bool,
    /// Lifetime of access tokens, 1m to 24h
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub access_token_lifetime: Option<Duration>,
    /// Lifetime of ID tokens, 1m to 24h
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub id_token_lifetime: Option<Duration>,
    /// Lifetime of refresh tokens, 1h to 365d
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub refresh_token_lifetime: Option<Duration>,
    /// A sign-in session unused for this long ends, 5m to 30d
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub session_idle_lifetime: Option<Duration>,
    /// A sign-in session ends this long after sign-in however it is used, 5m to 365d
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub session_absolute_lifetime: Option<Duration>,
    /// Fail with ABORTED unless this is the tenant's current etag (from `tenant get`)
    #[arg(long)]
    pub etag: Option<String>,
}

pub(crate) async fn run(connection: &Connection, command: TenantCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        TenantCommand::Create(args) => {
            let request = create_request(args);
            let mut client = TenantServiceClient::new(connection.connect().await?);
            let tenant = client.create_tenant(request).await?.into_inner();
            printer.one(&record(&tenant))
        }
        TenantCommand::Get { tenant } => {
            let name = resource_name(&tenant);
            let mut client = TenantServiceClient::new(connection.connect().await?);
            let tenant = client.get_tenant(GetTenantRequest { name }).await?;
            printer.one(&record(tenant.get_ref()))
        }
        TenantCommand::List(paging) => {
            let client = TenantServiceClient::new(connection.connect().await?);
            let tenants = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                async move {
                    let request = ListTenantsRequest {
                        page_size,
                        page_token,
                    };
                    let response = client.list_tenants(request).await?.into_inner();
                    Ok(Page {
                        items: response.tenants,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            printer.many("tenants", &tenants.iter().map(record).collect::<Vec<_>>())
        }
        TenantCommand::Update(args) => {
            let request = update_request(args)?;
            let mut client = TenantServiceClient::new(connection.connect().await?);
            let tenant = client.update_tenant(request).await?.into_inner();
            printer.one(&record(&tenant))
        }
        TenantCommand::Delete { tenant, etag } => {
            let name = resource_name(&tenant);
            let request = DeleteTenantRequest {
                name: name.clone(),
                etag: etag.unwrap_or_default(),
            };
            let mut client = TenantServiceClient::new(connection.connect().await?);
            client.delete_tenant(request).await?;
            printer.done(&format!("Deleted {name}."))
        }
    }
}

/// `tenants/acme` from either `acme` or `tenants/acme`.
pub(crate) fn resource_name(tenant: &str) -> String {
    if tenant.starts_with("tenants/") {
        tenant.to_owned()
    } else {
        format!("tenants/{tenant}")
    }
}

fn create_request(args: CreateArgs) -> CreateTenantRequest {
    CreateTenantRequest {
        tenant: Some(Tenant {
            slug: args.slug,
            display_name: args.display_name,
            disabled_environments: environment::to_proto(&args.disable_env),
            access_token_lifetime: args.access_token_lifetime.map(duration::to_proto),
            id_token_lifetime: args.id_token_lifetime.map(duration::to_proto),
            refresh_token_lifetime: args.refresh_token_lifetime.map(duration::to_proto),
            session_idle_lifetime: args.session_idle_lifetime.map(duration::to_proto),
            session_absolute_lifetime: args.session_absolute_lifetime.map(duration::to_proto),
            ..Tenant::default()
        }),
        request_id: args.request_id.unwrap_or_default(),
        parent: args
            .organization
            .map(|org| crate::org::resource_name(&org))
            .unwrap_or_default(),
    }
}

/// The tenant carries only the given fields, and the update mask names exactly those, so
/// the server leaves every other setting as it is.
fn update_request(args: UpdateArgs) -> Result<UpdateTenantRequest, CliError> {
    let mut tenant = Tenant {
        name: resource_name(&args.tenant),
        etag: args.etag.unwrap_or_default(),
        ..Tenant::default()
    };
    let mut paths = Vec::new();
    if let Some(display_name) = args.display_name {
        tenant.display_name = display_name;
        paths.push("display_name");
    }
    if args.enable_all_envs || !args.disable_env.is_empty() {
        tenant.disabled_environments = environment::to_proto(&args.disable_env);
        paths.push("disabled_environments");
    }
    let lifetimes = [
        (
            args.access_token_lifetime,
            &mut tenant.access_token_lifetime,
            "access_token_lifetime",
        ),
        (
            args.id_token_lifetime,
            &mut tenant.id_token_lifetime,
            "id_token_lifetime",
        ),
        (
            args.refresh_token_lifetime,
            &mut tenant.refresh_token_lifetime,
            "refresh_token_lifetime",
        ),
        (
            args.session_idle_lifetime,
            &mut tenant.session_idle_lifetime,
            "session_idle_lifetime",
        ),
        (
            args.session_absolute_lifetime,
            &mut tenant.session_absolute_lifetime,
            "session_absolute_lifetime",
        ),
    ];
    for (given, field, path) in lifetimes {
        if let Some(lifetime) = given {
            *field = Some(duration::to_proto(lifetime));
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(CliError::Usage(
            "nothing to update: give at least one of --display-name, --disable-env, \
             --enable-all-envs, --access-token-lifetime, --id-token-lifetime, \
             --refresh-token-lifetime, --session-idle-lifetime, --session-absolute-lifetime"
                .to_owned(),
        ));
    }
    Ok(UpdateTenantRequest {
        tenant: Some(tenant),
        update_mask: Some(FieldMask {
            paths: paths.into_iter().map(str::to_owned).collect(),
        }),
    })
}

/// How a tenant is shown, in tables and in JSON.
pub(crate) fn record(tenant: &Tenant) -> Record {
    Record::default()
        .field("name", tenant.name.as_str())
        .detail("slug", tenant.slug.as_str())
        .field("display_name", tenant.display_name.as_str())
        .field("issuer", tenant.issuer.as_str())
        .detail("organization", tenant.organization.as_str())
        .field(
            "disabled_environments",
            environment::labels(&tenant.disabled_environments),
        )
        .detail(
            "access_token_lifetime",
            Value::duration(tenant.access_token_lifetime.as_ref()),
        )
        .detail(
            "id_token_lifetime",
            Value::duration(tenant.id_token_lifetime.as_ref()),
        )
        .detail(
            "refresh_token_lifetime",
            Value::duration(tenant.refresh_token_lifetime.as_ref()),
        )
        .detail(
            "session_idle_lifetime",
            Value::duration(tenant.session_idle_lifetime.as_ref()),
        )
        .detail(
            "session_absolute_lifetime",
            Value::duration(tenant.session_absolute_lifetime.as_ref()),
        )
        .detail("etag", tenant.etag.as_str())
        .field("create_time", Value::time(tenant.create_time.as_ref()))
        .detail("update_time", Value::time(tenant.update_time.as_ref()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use keyhaven_proto::admin::v1::Environment;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: TenantCommand,
    }

    /// `keyhaven tenant update <args>` as the request it sends, or the error it prints.
    fn update(args: &[&str]) -> Result<UpdateTenantRequest, String> {
        let argv = ["tenant", "update"].iter().chain(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let TenantCommand::Update(args) = cli.command else {
            return Err("not an update".to_owned());
        };
        update_request(args).map_err(|e| e.to_string())
    }

    fn mask(args: &[&str]) -> Result<Vec<String>, String> {
        update(args).map(|r| r.update_mask.map(|m| m.paths).unwrap_or_default())
    }

    #[test]
    fn the_update_mask_names_only_the_given_flags() {
        assert_eq!(
            mask(&["acme", "--display-name", "Acme Corp"]),
            Ok(vec!["display_name".to_owned()])
        );
        assert_eq!(
            mask(&[
                "acme",
                "--refresh-token-lifetime",
                "7d",
                "--access-token-lifetime",
                "5m"
            ]),
            Ok(vec![
                "access_token_lifetime".to_owned(),
                "refresh_token_lifetime".to_owned()
            ])
        );
    }

    #[test]
    fn an_update_carries_the_given_values_on_the_named_tenant() {
        let request = update(&[
            "tenants/acme",
            "--display-name",
            "Acme Corp",
            "--access-token-lifetime",
            "600s",
            "--disable-env",
            "localhost",
            "--disable-env",
            "staging",
            "--etag",
            "W/7",
        ]);
        let tenant = request.ok().and_then(|r| r.tenant).unwrap_or_default();
        assert_eq!(tenant.name, "tenants/acme");
        assert_eq!(tenant.display_name, "Acme Corp");
        assert_eq!(tenant.etag, "W/7");
        assert_eq!(
            tenant.access_token_lifetime,
            Some(prost_types::Duration {
                seconds: 600,
                nanos: 0
            })
        );
        assert_eq!(
            tenant.disabled_environments,
            vec![Environment::Localhost as i32, Environment::Staging as i32]
        );
    }

    #[test]
    fn enabling_all_environments_sends_an_empty_list_under_the_mask() {
        let request = update(&["acme", "--enable-all-envs"]);
        let mask = request.as_ref().ok().and_then(|r| r.update_mask.clone());
        assert_eq!(
            mask.map(|m| m.paths),
            Some(vec!["disabled_environments".to_owned()])
        );
        let tenant = request.ok().and_then(|r| r.tenant).unwrap_or_default();
        assert!(tenant.disabled_environments.is_empty());
    }

    #[test]
    fn session_lifetimes_are_updated_under_their_own_mask_paths() {
        let request = update(&[
            "acme",
            "--session-idle-lifetime",
            "30m",
            "--session-absolute-lifetime",
            "12h",
        ]);
        let mask = request.as_ref().ok().and_then(|r| r.update_mask.clone());
        assert_eq!(
            mask.map(|m| m.paths),
            Some(vec![
                "session_idle_lifetime".to_owned(),
                "session_absolute_lifetime".to_owned()
            ])
        );
        let tenant = request.ok().and_then(|r| r.tenant).unwrap_or_default();
        assert_eq!(tenant.session_idle_lifetime.map(|d| d.seconds), Some(1800));
        assert_eq!(
            tenant.session_absolute_lifetime.map(|d| d.seconds),
            Some(12 * 3600)
        );
    }

    #[test]
    fn an_update_without_any_change_is_refused_before_sending() {
        let error = update(&["acme", "--etag", "W/7"]).err().unwrap_or_default();
        assert!(error.starts_with("nothing to update"), "{error}");
    }

    #[test]
    fn disabling_and_enabling_all_environments_together_is_refused() {
        assert!(update(&["acme", "--disable-env", "staging", "--enable-all-envs"]).is_err());
    }

    #[test]
    fn a_malformed_lifetime_is_refused_by_the_parser() {
        let error = update(&["acme", "--access-token-lifetime", "10"])
            .err()
            .unwrap_or_default();
        assert!(error.contains("such as 30s"), "{error}");
    }

    #[test]
    fn a_tenant_is_named_by_its_slug_or_its_resource_name() {
        assert_eq!(resource_name("acme"), "tenants/acme");
        assert_eq!(resource_name("tenants/acme"), "tenants/acme");
    }
}
