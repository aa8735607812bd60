//! `keyhaven audit ...`: AuditService.

use clap::Subcommand;
use keyhaven_proto::admin::v1::audit_service_client::AuditServiceClient;
use keyhaven_proto::admin::v1::{AuditEvent, ListAuditEventsRequest};

use crate::connection::Connection;
use crate::error::CliError;
use crate::output::{Printer, Record, Value};
use crate::paging::{self, Page, PageArgs};
use crate::{org, tenant};

/// The record of every control-plane change, successful or not.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List audit events, newest first (default: the calling token's organization)
    List {
        /// organizations/<org> for every event of the organization, or tenants/<tenant>
        /// for one tenant's
        #[arg(long, conflicts_with = "tenant")]
        parent: Option<String>,
        /// Shorthand for --parent tenants/<tenant>
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        paging: PageArgs,
    },
}

pub(crate) async fn run(connection: &Connection, command: AuditCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    let AuditCommand::List {
        parent,
        tenant,
        paging,
    } = command;
    let channel = connection.connect().await?;
    let parent = match (parent, tenant) {
        (Some(parent), _) => parent,
        (None, Some(tenant)) => tenant::resource_name(&tenant),
        (None, None) => org::caller_organization(channel.clone()).await?.name,
    };
    let client = AuditServiceClient::new(channel);
    let events = paging::collect(&paging, |page_size, page_token| {
        let mut client = client.clone();
        let request = ListAuditEventsRequest {
            parent: parent.clone(),
            page_size,
            page_token,
        };
        async move {
            let response = client.list_audit_events(request).await?.into_inner();
            Ok(Page {
                items: response.audit_events,
                next_page_token: response.next_page_token,
            })
        }
    })
    .await?;
    let records: Vec<Record> = events.iter().map(record).collect();
    printer.many("audit events", &records)
}

/// How an audit event is shown, in tables and in JSON.
pub(crate) fn record(event: &AuditEvent) -> Record {
    Record::default()
        .field("create_time", Value::time(event.create_time.as_ref()))
        .field("actor", event.actor.as_str())
        .field("action", event.action.as_str())
        .field("target", event.target.as_str())
        .field("outcome", event.outcome.as_str())
        .field("tenant", event.tenant.as_str())
}
