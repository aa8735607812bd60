//! Start a server and give it what the scenarios need, through its public APIs only.

use std::path::Path;
use std::sync::Arc;

use keyhaven_proto::admin::v1 as pb;
use keyhaven_server::{Config, Dependencies, Running};

use crate::server::Endpoints;
use tonic::metadata::MetadataValue;

use crate::browser::{User, WebApp};
use crate::load::Request;

const USERNAME: &str = "bench-user";
const PASSWORD: &str = "correct horse battery staple";
/// Served by no one: the browsers stop at the redirect and read the code off it.
const REDIRECT_URI: &str = "https://rp.example/cb";

pub async fn start(
    data_dir: &Path,
    database_url: Option<String>,
) -> Result<Running, Box<dyn std::error::Error>> {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        database_url,
        admin_addr: "127.0.0.1:0".parse()?,
        public_addr: "127.0.0.1:0".parse()?,
        metrics_addr: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    // The bench binary's allocator is the keyhaven binary's, and so is this.
    let deps = Dependencies {
        release_memory: keyhaven_server::allocator::release_freed_memory,
        ..Dependencies::default()
    };
    Ok(keyhaven_server::start(&config, deps).await?)
}

/// What the scenarios call: a service client of its own, and a user who signs in to a
/// first-party web application.
pub struct Target {
    /// The public listener's base URL, outside any tenant.
    pub public_url: String,
    pub issuer: String,
    client_id: String,
    secret: String,
    pub web: Arc<WebApp>,
    pub user: User,
    /// Users of the password sign-in scenario, one per connection.
    pub sign_in_users: Arc<[User]>,
    /// `http://` and the control plane's address.
    pub admin_url: String,
    pub admin_token: String,
    /// The resource name of the service application.
    pub application: String,
}

/// Provisions the target, with `sign_in_users` users more for the password sign-in
/// scenario: one per connection, so that no two connections share a username's throttle.
pub async fn provision(
    server: &Endpoints,
    sign_in_users: usize,
) -> Result<Target, Box<dyn std::error::Error>> {
    let token_file = server
        .token_file
        .as_ref()
        .ok_or("the benchmark needs an empty database: the bootstrap token was not written")?;
    let token = std::fs::read_to_string(token_file)?.trim().to_owned();
    let admin_url = server.admin_url.clone();
    let channel = tonic::transport::Channel::from_shared(admin_url.clone())?
        .connect()
        .await?;
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse()?;
    let auth = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    };
    let mut tenants = pb::tenant_service_client::TenantServiceClient::with_interceptor(
        channel.clone(),
        auth.clone(),
    );
    tenants
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant {
                slug: "bench".into(),
                display_name: "Benchmark".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    let mut users =
        pb::user_service_client::UserServiceClient::with_interceptor(channel.clone(), auth.clone());
    users
        .create_user(pb::CreateUserRequest {
            parent: "tenants/bench".into(),
            user: Some(pb::User {
                username: USERNAME.into(),
                email: format!("{USERNAME}@example.com"),
                given_name: "Bench".into(),
                family_name: "User".into(),
                ..Default::default()
            }),
            password: PASSWORD.into(),
        })
        .await?;
    // Concurrently: each costs the server a password hash.
    let creations: Vec<_> = (0..sign_in_users)
        .map(|i| {
            let mut users = users.clone();
            tokio::spawn(async move {
                users
                    .create_user(pb::CreateUserRequest {
                        parent: "tenants/bench".into(),
                        user: Some(pb::User {
                            username: format!("{USERNAME}-{i}"),
                            email: format!("{USERNAME}-{i}@example.com"),
                            ..Default::default()
                        }),
                        password: PASSWORD.into(),
                    })
                    .await
            })
        })
        .collect();
    for creation in creations {
        creation.await??;
    }
    let mut apps =
        pb::application_service_client::ApplicationServiceClient::with_interceptor(channel, auth);
    let mut created = apps
        .create_application(service_application(
            "tenants/bench".into(),
            "Load generator".into(),
        ))
        .await?
        .into_inner();
    let web = apps
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/bench".into(),
            application: Some(pb::Application {
                display_name: "Web application".into(),
                r#type: pb::ApplicationType::Web as i32,
                scopes: vec!["profile".into(), "email".into()],
                // Signed-in users get a code at once, without a consent page.
                first_party: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    let web_app = web.application.ok_or("no application in the answer")?;
    apps.create_redirect_uri(pb::CreateRedirectUriRequest {
        parent: web_app.name,
        redirect_uri: Some(pb::RedirectUri {
            uri: REDIRECT_URI.into(),
            purpose: pb::RedirectUriPurpose::Callback as i32,
            environment: pb::Environment::Production as i32,
            ..Default::default()
        }),
    })
    .await?;
    let service = created
        .application
        .take()
        .ok_or("no application in the answer")?;
    Ok(Target {
        public_url: server.public_url.clone(),
        issuer: format!("{}/t/bench", server.public_url),
        client_id: service.client_id,
        application: service.name,
        admin_url,
        admin_token: token,
        secret: created.client_secret,
        web: Arc::new(WebApp {
            client_id: web_app.client_id,
            secret: web.client_secret,
            redirect_uri: REDIRECT_URI.into(),
        }),
        user: User {
            username: USERNAME.into(),
            password: PASSWORD.into(),
        },
        sign_in_users: (0..sign_in_users)
            .map(|i| User {
                username: format!("{USERNAME}-{i}"),
                password: PASSWORD.into(),
            })
            .collect(),
    })
}

/// The request for a service application of `parent` (`tenants/{slug}`) with the scope
/// the client_credentials scenarios ask for.
pub fn service_application(parent: String, display_name: String) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        parent,
        application: Some(pb::Application {
            display_name,
            r#type: pb::ApplicationType::Service as i32,
            scopes: vec!["bench.read".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Target {
    pub fn client_credentials(&self, client: &reqwest::Client) -> Request {
        let url = format!("{}/oauth2/token", self.issuer);
        let (id, secret) = (self.client_id.clone(), self.secret.clone());
        let client = client.clone();
        Request::new(move || {
            client
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
        })
    }

    pub async fn issue_token(
        &self,
        client: &reqwest::Client,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let response: serde_json::Value = self
            .client_credentials(client)
            .build()
            .send()
            .await?
            .json()
            .await?;
        Ok(response["access_token"]
            .as_str()
            .ok_or("no access_token in the token response")?
            .to_owned())
    }

    pub fn introspection(&self, client: &reqwest::Client, token: String) -> Request {
        let url = format!("{}/oauth2/introspect", self.issuer);
        let (id, secret) = (self.client_id.clone(), self.secret.clone());
        let client = client.clone();
        Request::new(move || {
            client
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("token", token.as_str())])
        })
        .checked(|answer| match answer["active"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(format!("the token is not active: {answer}")),
        })
    }

    /// `GET` of `path` under the tenant's issuer.
    pub fn get(&self, client: &reqwest::Client, path: &str) -> Request {
        Self::get_url(client, format!("{}{path}", self.issuer))
    }

    /// `GET` of `path` outside any tenant, like `/healthz`.
    pub fn get_untenanted(&self, client: &reqwest::Client, path: &str) -> Request {
        Self::get_url(client, format!("{}{path}", self.public_url))
    }

    fn get_url(client: &reqwest::Client, url: String) -> Request {
        let client = client.clone();
        Request::new(move || client.get(&url))
    }
}
