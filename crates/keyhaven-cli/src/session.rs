//! `keyhaven session ...`: SessionService.

use clap::{Args, Subcommand};
use keyhaven_proto::admin::v1::session_service_client::SessionServiceClient;
use keyhaven_proto::admin::v1::{
    GetSessionRequest, ListSessionsRequest, NativeSsoLogoutRequest, RevokeSessionRequest, Session,
};

use crate::connection::Connection;
use crate::error::CliError;
use crate::output::{Printer, Record, Value};
use crate::paging::{self, Page, PageArgs};
use crate::{app, tenant, user};

/// Sign-in sessions: one per browser or device a user signed in on.
#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// List a tenant's live sessions
    List(ListArgs),
    /// Show one session
    Get(SessionRef),
    /// End a session: its refresh and access tokens stop working and the user signs in
    /// again at the next authorization
    Revoke(SessionRef),
    /// OpenID Connect Native SSO logout: end a session, delete its tokens and invalidate
    /// its device secret; prints how many tokens were deleted
    NativeSsoLogout {
        /// The tenant: its slug (acme) or resource name (tenants/acme)
        #[arg(long)]
        tenant: String,
        /// The session's id (the sid claim of its ID tokens)
        #[arg(long, value_name = "SID")]
        session_id: String,
    },
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The tenant: its slug (acme) or resource name (tenants/acme)
    #[arg(long)]
    pub tenant: String,
    /// Only this user's sessions: a username or tenants/<tenant>/users/<id>
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions in which this application got tokens: a client ID or
    /// tenants/<tenant>/applications/<client_id>
    #[arg(long, value_name = "CLIENT_ID")]
    pub app: Option<String>,
    /// Ended and expired sessions too
    #[arg(long)]
    pub include_ended: bool,
    #[command(flatten)]
    pub paging: PageArgs,
}

/// Which session: its resource name, or its id with `--tenant`.
#[derive(Args, Debug)]
pub struct SessionRef {
    /// The session: tenants/<tenant>/sessions/<sid>, or a sid with --tenant
    #[arg(value_name = "SESSION")]
    pub session: String,
    /// The tenant of a sid: its slug (acme) or tenants/acme
    #[arg(long)]
    pub tenant: Option<String>,
}

impl SessionRef {
    fn resource_name(&self) -> Result<String, CliError> {
        if self.session.starts_with("tenants/") {
            return Ok(self.session.clone());
        }
        match &self.tenant {
            Some(tenant) => Ok(format!(
                "{}/sessions/{}",
                tenant::resource_name(tenant),
                self.session
            )),
            None => Err(CliError::Usage(format!(
                "which tenant is {:?} in? Name the session as tenants/<tenant>/sessions/<sid>, \
                 or pass --tenant",
                self.session
            ))),
        }
    }
}

pub(crate) async fn run(connection: &Connection, command: SessionCommand) -> Result<(), CliError> {
    let printer = Printer::new(connection.json);
    match command {
        SessionCommand::List(args) => {
            let parent = tenant::resource_name(&args.tenant);
            let user = match &args.user {
                Some(user) => user::resource_name(connection, &args.tenant, user).await?,
                None => String::new(),
            };
            let application = match &args.app {
                Some(app) => app::resource_name(Some(&args.tenant), app)?,
                None => String::new(),
            };
            let client = SessionServiceClient::new(connection.connect().await?);
            let sessions = paging::collect(&args.paging, |page_size, page_token| {
                let mut client = client.clone();
                let request = ListSessionsRequest {
                    parent: parent.clone(),
                    user: user.clone(),
                    application: application.clone(),
                    include_ended: args.include_ended,
                    page_size,
                    page_token,
                };
                async move {
                    let response = client.list_sessions(request).await?.into_inner();
                    Ok(Page {
                        items: response.sessions,
                        next_page_token: response.next_page_token,
                    })
                }
            })
            .await?;
            printer.many("sessions", &sessions.iter().map(record).collect::<Vec<_>>())
        }
        SessionCommand::Get(session) => {
            let name = session.resource_name()?;
            let mut client = SessionServiceClient::new(connection.connect().await?);
            let session = client.get_session(GetSessionRequest { name }).await?;
            printer.one(&record(session.get_ref()))
        }
        SessionCommand::Revoke(session) => {
            let name = session.resource_name()?;
            let mut client = SessionServiceClient::new(connection.connect().await?);
            let session = client.revoke_session(RevokeSessionRequest { name }).await?;
            printer.one(&record(session.get_ref()))
        }
        SessionCommand::NativeSsoLogout { tenant, session_id } => {
            let request = NativeSsoLogoutRequest {
                parent: tenant::resource_name(&tenant),
                session_id,
            };
            let mut client = SessionServiceClient::new(connection.connect().await?);
            let response = client.native_sso_logout(request).await?.into_inner();
            printer
                .one(&Record::default().field("deleted_count", response.deleted_count.to_string()))
        }
    }
}

/// How a session is shown, in tables and in JSON.
fn record(session: &Session) -> Record {
    Record::default()
        .field("name", session.name.as_str())
        .field("user", session.user.as_str())
        .field("applications", session.applications.clone())
        .detail("amr", session.amr.clone())
        .detail("device_id", session.device_id.as_str())
        .detail("auth_time", Value::time(session.auth_time.as_ref()))
        .detail(
            "idle_expire_time",
            Value::time(session.idle_expire_time.as_ref()),
        )
        .field("expire_time", Value::time(session.expire_time.as_ref()))
        .field("end_time", Value::time(session.end_time.as_ref()))
        .detail("create_time", Value::time(session.create_time.as_ref()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: SessionCommand,
    }

    fn parse(args: &[&str]) -> Result<SessionCommand, String> {
        let argv = std::iter::once(&"session").chain(args);
        Cli::try_parse_from(argv)
            .map(|c| c.command)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_session_is_named_by_its_resource_name_or_its_sid_and_tenant() {
        let Ok(SessionCommand::Get(session)) = parse(&["get", "s1", "--tenant", "acme"]) else {
            panic!("get parses");
        };
        assert_eq!(
            session.resource_name().ok().as_deref(),
            Some("tenants/acme/sessions/s1")
        );
        let Ok(SessionCommand::Revoke(session)) = parse(&["revoke", "tenants/acme/sessions/s1"])
        else {
            panic!("revoke parses");
        };
        assert_eq!(
            session.resource_name().ok().as_deref(),
            Some("tenants/acme/sessions/s1")
        );
        let Ok(SessionCommand::Get(session)) = parse(&["get", "s1"]) else {
            panic!("get parses");
        };
        assert!(session.resource_name().is_err());
    }

    #[test]
    fn native_sso_logout_needs_a_tenant_and_a_session_id() {
        assert!(
            parse(&[
                "native-sso-logout",
                "--tenant",
                "acme",
                "--session-id",
                "s1"
            ])
            .is_ok()
        );
        assert!(parse(&["native-sso-logout", "--tenant", "acme"]).is_err());
    }

    #[test]
    fn list_takes_its_filters_as_flags() {
        let Ok(SessionCommand::List(args)) = parse(&[
            "list",
            "--tenant",
            "acme",
            "--user",
            "alice",
            "--app",
            "c1",
            "--include-ended",
        ]) else {
            panic!("list parses");
        };
        assert_eq!(args.user.as_deref(), Some("alice"));
        assert_eq!(args.app.as_deref(), Some("c1"));
        assert!(args.include_ended);
    }
}
