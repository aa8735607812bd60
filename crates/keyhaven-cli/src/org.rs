//! `keyhaven org ...`: OrganizationService.

use clap::Subcommand;
use keyhaven_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use keyhaven_proto::admin::v1::{GetOrganizationRequest, ListOrganizationsRequest, Organization};

use crate::connection::{AdminChannel, Connection};
use crate::error::CliError;
use crate::output::{Printer, Record, Value};
use crate::paging::{self, Page, PageArgs};

/// Organizations own tenants and organization tokens.
#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Show an organization (default: the calling token's own)
    Get {
        /// The organization: its slug (default) or resource name (organizations/default)
        organization: Option<String>,
    },
    /// List the organizations the token reaches (its own)
    List(PageArgs),
}

pub(crate) async fn run(connection: &Connection, command: OrgCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        OrgCommand::Get {
            organization: Some(organization),
        } => {
            let name = resource_name(&organization);
            let mut client = OrganizationServiceClient::new(connection.connect().await?);
            let organization = client
                .get_organization(GetOrganizationRequest { name })
                .await?;
            printer.one(&record(organization.get_ref()))
        }
        OrgCommand::Get { organization: None } => {
            let organization = caller_organization(connection.connect().await?).await?;
            printer.one(&record(&organization))
        }
        OrgCommand::List(paging) => {
            let client = OrganizationServiceClient::new(connection.connect().await?);
            let organizations = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                async move {
                    let request = ListOrganizationsRequest {
                        page_size,
                        page_token,
                    };
                    let response = client.list_organizations(request).await?.into_inner();
                    Ok(Page {
                        items: response.organizations,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            let records: Vec<Record> = organizations.iter().map(record).collect();
            printer.many("organizations", &records)
        }
    }
}

/// The organization of the calling token: the one ListOrganizations returns.
pub(crate) async fn caller_organization(channel: AdminChannel) -> Result<Organization, CliError> {
    let mut client = OrganizationServiceClient::new(channel);
    let request = ListOrganizationsRequest {
        page_size: 2,
        page_token: String::new(),
    };
    let mut organizations = client.list_organizations(request).await?.into_inner();
    match organizations.organizations.len() {
        1 => Ok(organizations.organizations.remove(0)),
        0 => Err(CliError::Usage(
            "the token reaches no organization; name one explicitly".to_owned(),
        )),
        _ => Err(CliError::Usage(
            "the token reaches several organizations; name one explicitly".to_owned(),
        )),
    }
}

/// `organizations/default` from either `default` or `organizations/default`.
pub(crate) fn resource_name(organization: &str) -> String {
    if organization.starts_with("organizations/") {
        organization.to_owned()
    } else {
        format!("organizations/{organization}")
    }
}

/// How an organization is shown, in tables and in JSON.
pub(crate) fn record(organization: &Organization) -> Record {
    Record::default()
        .field("name", organization.name.as_str())
        .field("slug", organization.slug.as_str())
        .field("display_name", organization.display_name.as_str())
        .field(
            "create_time",
            Value::time(organization.create_time.as_ref()),
        )
}
