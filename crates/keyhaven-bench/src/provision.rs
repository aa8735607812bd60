//! Start a server and give it what the scenarios need, through its public APIs only.

use std::path::Path;
use std::sync::Arc;

use keyhaven_proto::admin::v1 as pb;
use keyhaven_server::{Config, Dependencies, Running};
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
    Ok(keyhaven_server::start(&config, Dependencies::default()).await?)
}

/// What the scenarios call: a service client of its own, and a user who signs in to a
/// first-party web application.
pub struct Target {
    pub issuer: String,
    client_id: String,
    secret: String,
    pub web: Arc<WebApp>,
    pub user: User,
}

pub async fn provision(running: &Running) -> Result<Target, Box<dyn std::error::Error>> {
    let token = std::fs::read_to_string(running_data_token(running)?)?
        .trim()
        .to_owned();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.admin_addr))?
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
    let mut apps =
        pb::application_service_client::ApplicationServiceClient::with_interceptor(channel, auth);
    let created = apps
        .create_application(pb::CreateApplicationRequest {
            parent: "tenants/bench".into(),
            application: Some(pb::Application {
                display_name: "Load generator".into(),
                r#type: pb::ApplicationType::Service as i32,
                scopes: vec!["bench.read".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
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
    Ok(Target {
        issuer: format!("{}/t/bench", running.public_url),
        client_id: created.application.map(|a| a.client_id).unwrap_or_default(),
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
    })
}

fn running_data_token(running: &Running) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    match &running.bootstrap {
        keyhaven_server::bootstrap::Outcome::Written(path) => Ok(path.clone()),
        _ => {
            Err("the benchmark needs an empty database: the bootstrap token was not written".into())
        }
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

    pub fn get(&self, client: &reqwest::Client, path: &str) -> Request {
        let url = format!("{}{path}", self.issuer);
        let client = client.clone();
        Request::new(move || client.get(&url))
    }
}
