//! `keyhaven token ...`: ManagementTokenService.

use std::time::Duration;

use clap::{Args, Subcommand};
use keyhaven_proto::admin::v1::management_token_service_client::ManagementTokenServiceClient;
use keyhaven_proto::admin::v1::{
    CreateManagementTokenRequest, ListManagementTokensRequest, ManagementToken,
    RevokeManagementTokenRequest,
};
use time::OffsetDateTime;

use crate::connection::Connection;
use crate::duration;
use crate::error::CliError;
use crate::output::{Printer, Record, Value, note};
use crate::paging::{self, Page, PageArgs};

/// Management tokens are the bearer tokens of this admin API: organization tokens reach
/// every tenant of their organization, service tokens reach one tenant.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a management token; the token is printed once
    Create(CreateArgs),
    /// List the management tokens of an organization or a tenant
    List {
        /// organizations/<org> or tenants/<tenant>
        #[arg(long)]
        parent: String,
        #[command(flatten)]
        paging: PageArgs,
    },
    /// Revoke a management token; it stops working on its next call
    Revoke {
        /// organizations/<org>/managementTokens/<id> or tenants/<tenant>/managementTokens/<id>
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// organizations/<org> for an organization token, tenants/<tenant> for a service token
    #[arg(long)]
    pub parent: String,
    /// A name to recognise the token by, such as ci
    #[arg(long)]
    pub display_name: String,
    /// A permission to grant, such as applications.read, or * for all; repeat for more. A
    /// token can only grant permissions it holds itself
    #[arg(long = "permission", value_name = "PERMISSION", required = true)]
    pub permissions: Vec<String>,
    /// Make the token stop working after this long, such as 30d (default: never)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub expires_in: Option<Duration>,
}

pub(crate) async fn run(connection: &Connection, command: TokenCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        TokenCommand::Create(args) => {
            let request = create_request(args, OffsetDateTime::now_utc());
            let mut client = ManagementTokenServiceClient::new(connection.connect().await?);
            let response = client.create_management_token(request).await?.into_inner();
            let token = response.management_token.unwrap_or_default();
            note("Store the token now: it will not be shown again.");
            printer.one(&record(&token).field("token", response.token))
        }
        TokenCommand::List { parent, paging } => {
            let client = ManagementTokenServiceClient::new(connection.connect().await?);
            let tokens = paging::collect(&paging, |page_size, page_token| {
                let mut client = client.clone();
                let request = ListManagementTokensRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token,
                };
                async move {
                    let response = client.list_management_tokens(request).await?.into_inner();
                    Ok(Page {
                        items: response.management_tokens,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            let records: Vec<Record> = tokens.iter().map(record).collect();
            printer.many("management tokens", &records)
        }
        TokenCommand::Revoke { name } => {
            let mut client = ManagementTokenServiceClient::new(connection.connect().await?);
            client
                .revoke_management_token(RevokeManagementTokenRequest { name: name.clone() })
                .await?;
            printer.done(&format!("Revoked {name}."))
        }
    }
}

/// `now` is handed in so the expiry is computed from one clock reading.
fn create_request(args: CreateArgs, now: OffsetDateTime) -> CreateManagementTokenRequest {
    let expire_time = args.expires_in.map(|expires_in| prost_types::Timestamp {
        seconds: now
            .unix_timestamp()
            .saturating_add(duration::to_proto(expires_in).seconds),
        nanos: 0,
    });
    CreateManagementTokenRequest {
        parent: args.parent,
        management_token: Some(ManagementToken {
            display_name: args.display_name,
            permissions: args.permissions,
            expire_time,
            ..ManagementToken::default()
        }),
    }
}

/// How a management token is shown, in tables and in JSON.
pub(crate) fn record(token: &ManagementToken) -> Record {
    Record::default()
        .field("name", token.name.as_str())
        .field("display_name", token.display_name.as_str())
        .field("permissions", token.permissions.clone())
        .detail("create_time", Value::time(token.create_time.as_ref()))
        .field("expire_time", Value::time(token.expire_time.as_ref()))
        .field("last_use_time", Value::time(token.last_use_time.as_ref()))
        .field("revoke_time", Value::time(token.revoke_time.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_that_expires_in_30_days_gets_an_expire_time_30_days_from_now() {
        let now = OffsetDateTime::from_unix_timestamp(1_795_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let args = CreateArgs {
            parent: "organizations/default".to_owned(),
            display_name: "ci".to_owned(),
            permissions: vec!["applications.read".to_owned()],
            expires_in: duration::parse("30d").ok(),
        };
        let request = create_request(args, now);
        let expire_time = request.management_token.and_then(|t| t.expire_time);
        assert_eq!(
            expire_time.map(|t| t.seconds),
            Some(1_795_000_000 + 30 * 86_400)
        );
    }
}
