//! The admin commands through their public entry point, against a fake control plane
//! listening on 127.0.0.1:0. The real control plane is exercised by the workspace's
//! end-to-end tests; this checks what the client puts on the wire and how it reports
//! what comes back.

use std::sync::{Arc, Mutex};

use clap::Parser;
use keyhaven_cli::{AdminCommand, CliError, Connection};
use keyhaven_proto::admin::v1::tenant_service_server::{TenantService, TenantServiceServer};
use keyhaven_proto::admin::v1::user_service_server::{UserService, UserServiceServer};
use keyhaven_proto::admin::v1::{
    CreateTenantRequest, CreateUserRequest, DeleteTenantRequest, DeleteUserRequest,
    GetTenantRequest, GetUserRequest, ListTenantsRequest, ListTenantsResponse, ListUsersRequest,
    ListUsersResponse, SetPasswordRequest, Tenant, UpdateTenantRequest, UpdateUserRequest, User,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

/// The shape the binary gives these arguments.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: AdminCommand,
}

/// What the fake control plane saw: one line per request.
type Seen = Arc<Mutex<Vec<String>>>;

/// Notes one request and the authorization header it came with.
fn note<T>(seen: &Seen, request: &Request<T>, what: String) {
    let authorization = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>");
    if let Ok(mut seen) = seen.lock() {
        seen.push(format!("{what} [{authorization}]"));
    }
}

struct FakeTenants {
    seen: Seen,
}

impl FakeTenants {
    fn saw<T>(&self, request: &Request<T>, what: String) {
        note(&self.seen, request, what);
    }
}

fn tenant(slug: &str) -> Tenant {
    Tenant {
        name: format!("tenants/{slug}"),
        slug: slug.to_owned(),
        display_name: slug.to_uppercase(),
        ..Tenant::default()
    }
}

#[tonic::async_trait]
impl TenantService for FakeTenants {
    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        self.saw(&request, "CreateTenant".to_owned());
        Err(Status::with_error_details(
            Code::InvalidArgument,
            "the tenant is invalid",
            ErrorDetails::with_bad_request(vec![FieldViolation::new(
                "tenant.slug",
                "must start with a letter",
            )]),
        ))
    }

    async fn get_tenant(
        &self,
        request: Request<GetTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        self.saw(&request, format!("GetTenant {}", request.get_ref().name));
        Ok(Response::new(tenant("acme")))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        let page_token = request.get_ref().page_token.clone();
        self.saw(&request, format!("ListTenants page_token={page_token:?}"));
        let (slug, next_page_token) = match page_token.as_str() {
            "" => ("acme", "p2"),
            _ => ("globex", ""),
        };
        Ok(Response::new(ListTenantsResponse {
            tenants: vec![tenant(slug)],
            next_page_token: next_page_token.to_owned(),
        }))
    }

    async fn update_tenant(
        &self,
        request: Request<UpdateTenantRequest>,
    ) -> Result<Response<Tenant>, Status> {
        let paths = request
            .get_ref()
            .update_mask
            .as_ref()
            .map(|m| m.paths.join(","))
            .unwrap_or_default();
        self.saw(&request, format!("UpdateTenant mask={paths}"));
        Ok(Response::new(tenant("acme")))
    }

    async fn delete_tenant(
        &self,
        request: Request<DeleteTenantRequest>,
    ) -> Result<Response<()>, Status> {
        self.saw(&request, format!("DeleteTenant {}", request.get_ref().name));
        Ok(Response::new(()))
    }
}

/// Users of tenant acme, two pages of them: alice on the first, bob on the second.
struct FakeUsers {
    seen: Seen,
}

fn user(id: &str, username: &str) -> User {
    User {
        name: format!("tenants/acme/users/{id}"),
        username: username.to_owned(),
        ..User::default()
    }
}

#[tonic::async_trait]
impl UserService for FakeUsers {
    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<User>, Status> {
        note(&self.seen, &request, "CreateUser".to_owned());
        Ok(Response::new(user("u1", "alice")))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        note(
            &self.seen,
            &request,
            format!("GetUser {}", request.get_ref().name),
        );
        Ok(Response::new(user("u1", "alice")))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let ListUsersRequest {
            parent, page_token, ..
        } = request.get_ref().clone();
        note(
            &self.seen,
            &request,
            format!("ListUsers {parent} page_token={page_token:?}"),
        );
        let (users, next_page_token) = match page_token.as_str() {
            "" => (vec![user("u1", "alice")], "p2"),
            _ => (vec![user("u2", "bob")], ""),
        };
        Ok(Response::new(ListUsersResponse {
            users,
            next_page_token: next_page_token.to_owned(),
        }))
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<User>, Status> {
        let sent = request.get_ref().user.clone().unwrap_or_default();
        let paths = request
            .get_ref()
            .update_mask
            .as_ref()
            .map(|m| m.paths.join(","))
            .unwrap_or_default();
        note(
            &self.seen,
            &request,
            format!(
                "UpdateUser {} mask={paths} disabled={}",
                sent.name, sent.disabled
            ),
        );
        Ok(Response::new(sent))
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<()>, Status> {
        note(
            &self.seen,
            &request,
            format!("DeleteUser {}", request.get_ref().name),
        );
        Ok(Response::new(()))
    }

    async fn set_password(
        &self,
        request: Request<SetPasswordRequest>,
    ) -> Result<Response<()>, Status> {
        note(&self.seen, &request, "SetPassword".to_owned());
        Ok(Response::new(()))
    }
}

/// A fake control plane on a free port; dropping it stops the server.
struct ControlPlane {
    url: String,
    seen: Seen,
    _stop: oneshot::Sender<()>,
}

impl ControlPlane {
    async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen = Seen::default();
        let tenants = TenantServiceServer::new(FakeTenants { seen: seen.clone() });
        let users = UserServiceServer::new(FakeUsers { seen: seen.clone() });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(tenants)
                .add_service(users)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                }),
        );
        Ok(ControlPlane {
            url,
            seen,
            _stop: stop,
        })
    }

    /// Runs `keyhaven --admin-url <fake> --token kh_test <args>`.
    async fn run(&self, args: &[&str]) -> Result<(), CliError> {
        let argv = [
            "keyhaven",
            "--admin-url",
            &self.url,
            "--token",
            "kh_test",
            "--json",
        ]
        .into_iter()
        .chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).map_err(|e| CliError::Usage(e.to_string()))?;
        keyhaven_cli::run(&cli.connection, cli.command).await
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[tokio::test]
async fn every_request_carries_the_token_as_a_bearer_authorization_header()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane.run(&["tenant", "get", "acme"]).await?;
    control_plane
        .run(&["tenant", "delete", "tenants/acme"])
        .await?;
    assert_eq!(
        control_plane.seen(),
        [
            "GetTenant tenants/acme [Bearer kh_test]",
            "DeleteTenant tenants/acme [Bearer kh_test]",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn field_violations_from_the_control_plane_are_listed_under_the_status()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    let result = control_plane
        .run(&[
            "tenant",
            "create",
            "--slug",
            "1acme",
            "--display-name",
            "Acme",
        ])
        .await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "INVALID_ARGUMENT: the tenant is invalid\n  - tenant.slug: must start with a letter"
    );
    Ok(())
}

#[tokio::test]
async fn listing_with_all_follows_next_page_token_to_the_last_page()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane.run(&["tenant", "list", "--all"]).await?;
    assert_eq!(
        control_plane.seen(),
        [
            "ListTenants page_token=\"\" [Bearer kh_test]",
            "ListTenants page_token=\"p2\" [Bearer kh_test]",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn listing_without_all_fetches_one_page() -> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane.run(&["tenant", "list"]).await?;
    assert_eq!(
        control_plane.seen(),
        ["ListTenants page_token=\"\" [Bearer kh_test]"]
    );
    Ok(())
}

#[tokio::test]
async fn tenant_update_sends_a_mask_of_exactly_the_given_flags()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane
        .run(&[
            "tenant",
            "update",
            "acme",
            "--enable-all-envs",
            "--display-name",
            "Acme",
        ])
        .await?;
    assert_eq!(
        control_plane.seen(),
        ["UpdateTenant mask=display_name,disabled_environments [Bearer kh_test]"]
    );
    Ok(())
}

#[tokio::test]
async fn a_user_named_by_username_is_looked_up_page_by_page_before_the_change()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane
        .run(&["user", "disable", "BOB", "--tenant", "acme"])
        .await?;
    assert_eq!(
        control_plane.seen(),
        [
            "ListUsers tenants/acme page_token=\"\" [Bearer kh_test]",
            "ListUsers tenants/acme page_token=\"p2\" [Bearer kh_test]",
            "UpdateUser tenants/acme/users/u2 mask=disabled disabled=true [Bearer kh_test]",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_user_named_by_resource_name_is_changed_without_a_lookup()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    control_plane
        .run(&["user", "enable", "tenants/acme/users/u1"])
        .await?;
    control_plane
        .run(&["user", "get", "tenants/acme/users/u1"])
        .await?;
    control_plane
        .run(&["user", "delete", "tenants/acme/users/u1"])
        .await?;
    assert_eq!(
        control_plane.seen(),
        [
            "UpdateUser tenants/acme/users/u1 mask=disabled disabled=false [Bearer kh_test]",
            "GetUser tenants/acme/users/u1 [Bearer kh_test]",
            "DeleteUser tenants/acme/users/u1 [Bearer kh_test]",
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_username_is_reported_after_the_last_page_and_nothing_changes()
-> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    let result = control_plane
        .run(&["user", "delete", "carol", "--tenant", "acme"])
        .await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(message, "no user with username \"carol\" in tenants/acme");
    assert_eq!(control_plane.seen().len(), 2, "two pages listed, no delete");
    Ok(())
}

#[tokio::test]
async fn a_create_without_password_stdin_sends_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let control_plane = ControlPlane::start().await?;
    let result = control_plane
        .run(&["user", "create", "--tenant", "acme", "--username", "alice"])
        .await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("--password-stdin"), "{message}");
    assert!(control_plane.seen().is_empty());
    Ok(())
}
