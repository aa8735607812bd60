//! `keyhaven redirect-uri ...`: an application's redirect URIs in ApplicationService.

use clap::{Subcommand, ValueEnum};
use keyhaven_proto::admin::v1::application_service_client::ApplicationServiceClient;
use keyhaven_proto::admin::v1::{
    CreateRedirectUriRequest, DeleteRedirectUriRequest, Environment, ListRedirectUrisRequest,
    RedirectUri, RedirectUriPurpose,
};

use crate::app;
use crate::connection::Connection;
use crate::environment::{self, EnvironmentArg};
use crate::error::CliError;
use crate::output::{Printer, Record, Value, enum_label};
use crate::paging::{self, Page, PageArgs};

/// Redirect URIs are matched by exact string comparison, per environment.
#[derive(Subcommand, Debug)]
pub enum RedirectUriCommand {
    /// Register a redirect URI for an application
    Create {
        /// The application: tenants/<tenant>/applications/<client_id>, or a client ID with
        /// --tenant
        #[arg(long)]
        app: String,
        /// The tenant of a bare client ID: its slug (acme) or tenants/acme
        #[arg(long)]
        tenant: Option<String>,
        /// The URI, in canonical form: it is matched by exact string comparison
        #[arg(long)]
        uri: String,
        /// What the URI is for
        #[arg(long)]
        purpose: Purpose,
        /// Which environment it belongs to; production and staging need https
        #[arg(long)]
        environment: EnvironmentArg,
    },
    /// List an application's redirect URIs
    List {
        /// The application: tenants/<tenant>/applications/<client_id>, or a client ID with
        /// --tenant
        #[arg(long)]
        app: String,
        /// The tenant of a bare client ID: its slug (acme) or tenants/acme
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        paging: PageArgs,
    },
    /// Delete a redirect URI
    Delete {
        /// tenants/<tenant>/applications/<client_id>/redirectUris/<id>
        name: String,
    },
}

/// What a redirect URI is for.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Where the authorization response is sent (redirect_uri)
    Callback,
    /// Where a user may be sent after logout (post_logout_redirect_uri)
    PostLogout,
}

impl From<Purpose> for RedirectUriPurpose {
    fn from(purpose: Purpose) -> Self {
        match purpose {
            Purpose::Callback => RedirectUriPurpose::Callback,
            Purpose::PostLogout => RedirectUriPurpose::PostLogout,
        }
    }
}

pub(crate) async fn run(
    connection: &Connection,
    command: RedirectUriCommand,
) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        RedirectUriCommand::Create {
            app,
            tenant,
            uri,
            purpose,
            environment,
        } => {
            let request = CreateRedirectUriRequest {
                parent: app::resource_name(tenant.as_deref(), &app)?,
                redirect_uri: Some(RedirectUri {
                    uri,
                    purpose: RedirectUriPurpose::from(purpose) as i32,
                    environment: Environment::from(environment) as i32,
                    ..RedirectUri::default()
                }),
            };
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            let redirect_uri = client.create_redirect_uri(request).await?.into_inner();
            printer.one(&record(&redirect_uri))
        }
        RedirectUriCommand::List {
            app,
            tenant,
            paging,
        } => {
            let parent = app::resource_name(tenant.as_deref(), &app)?;
            let client = ApplicationServiceClient::new(connection.connect().await?);
            let redirect_uris = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                let request = ListRedirectUrisRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token,
                };
                async move {
                    let response = client.list_redirect_uris(request).await?.into_inner();
                    Ok(Page {
                        items: response.redirect_uris,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            let records: Vec<Record> = redirect_uris.iter().map(record).collect();
            printer.many("redirect URIs", &records)
        }
        RedirectUriCommand::Delete { name } => {
            let mut client = ApplicationServiceClient::new(connection.connect().await?);
            client
                .delete_redirect_uri(DeleteRedirectUriRequest { name: name.clone() })
                .await?;
            printer.done(&format!("Deleted {name}."))
        }
    }
}

/// How a redirect URI is shown, in tables and in JSON.
pub(crate) fn record(redirect_uri: &RedirectUri) -> Record {
    let purpose_name = RedirectUriPurpose::try_from(redirect_uri.purpose)
        .ok()
        .map(|p| p.as_str_name());
    Record::default()
        .field("name", redirect_uri.name.as_str())
        .field("uri", redirect_uri.uri.as_str())
        .field(
            "purpose",
            enum_label(purpose_name, "REDIRECT_URI_PURPOSE_", redirect_uri.purpose),
        )
        .field("environment", environment::label(redirect_uri.environment))
        .field("enabled", redirect_uri.enabled)
        .detail(
            "create_time",
            Value::time(redirect_uri.create_time.as_ref()),
        )
}
