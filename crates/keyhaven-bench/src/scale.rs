//! Scale of tenants (issue 5, item 8): many tenants of three service applications each,
//! provisioned over gRPC like any other; a first pass asks each application once (every
//! cache cold: its rate is reported apart), then `client_credentials` for a tenant and an
//! application chosen at random per request, which one tenant's hot caches, CPU caches
//! included, would flatter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keyhaven_proto::admin::v1 as pb;
use pb::application_service_client::ApplicationServiceClient;
use pb::tenant_service_client::TenantServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::grpc::Bearer;
use crate::load::{self, BoxFuture, Connection, Failure, Scenario};
use crate::provision;

/// Applications per tenant, as the issue sets the scale.
pub const APPLICATIONS_PER_TENANT: usize = 3;
/// Tenants created at once: each creation generates the tenant's signing keys (RSA among
/// them), so the server's cores are what provisioning waits on, not the round trips.
const IN_FLIGHT: usize = 8;

/// A service application's credentials at its tenant's token endpoint.
#[derive(Clone)]
struct Client {
    token_url: String,
    client_id: String,
    secret: String,
}

/// What provisioning made: every application of every tenant.
pub struct Tenants {
    clients: Arc<[Client]>,
    pub count: usize,
    pub took: Duration,
}

/// Creates `count` tenants `scale-{i}` with three service applications each.
pub async fn provision(
    admin_url: &str,
    bearer: Bearer,
    public_url: &str,
    count: usize,
) -> Result<Tenants, Failure> {
    let channel = Channel::from_shared(admin_url.to_owned())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..IN_FLIGHT.min(count.max(1)))
        .map(|_| {
            let (channel, bearer, next) = (channel.clone(), bearer.clone(), Arc::clone(&next));
            let public_url = public_url.to_owned();
            tokio::spawn(async move {
                let mut tenants =
                    TenantServiceClient::with_interceptor(channel.clone(), bearer.clone());
                let mut apps = ApplicationServiceClient::with_interceptor(channel, bearer);
                let mut made = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return Ok::<_, Failure>(made);
                    }
                    made.extend(tenant(&mut tenants, &mut apps, &public_url, index).await?);
                }
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(count * APPLICATIONS_PER_TENANT);
    for worker in workers {
        clients.extend(worker.await.map_err(|e| e.to_string())??);
    }
    Ok(Tenants {
        clients: clients.into(),
        count,
        took: started.elapsed(),
    })
}

type TenantsClient = TenantServiceClient<InterceptedService<Channel, Bearer>>;
type Applications = ApplicationServiceClient<InterceptedService<Channel, Bearer>>;

/// Tenant `scale-{index}` and its service applications.
async fn tenant(
    tenants: &mut TenantsClient,
    apps: &mut Applications,
    public_url: &str,
    index: usize,
) -> Result<Vec<Client>, Failure> {
    let slug = format!("scale-{index}");
    tenants
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant {
                slug: slug.clone(),
                display_name: format!("Scale {index}"),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map_err(|status| format!("creating tenant {slug}: {status}"))?;
    let mut clients = Vec::with_capacity(APPLICATIONS_PER_TENANT);
    for app in 0..APPLICATIONS_PER_TENANT {
        let created = apps
            .create_application(provision::service_application(
                format!("tenants/{slug}"),
                format!("Service {app}"),
            ))
            .await
            .map_err(|status| format!("creating an application of {slug}: {status}"))?
            .into_inner();
        let application = created.application.ok_or("no application in the answer")?;
        clients.push(Client {
            token_url: format!("{public_url}/t/{slug}/oauth2/token"),
            client_id: application.client_id,
            secret: created.client_secret,
        });
    }
    Ok(clients)
}

impl Tenants {
    /// One `client_credentials` request to every application, in order, over
    /// `connections` at once: each finds the server's caches cold for its application (and
    /// for its tenant and keys, the first of three). Returns how long the pass took.
    pub async fn first_touch(
        &self,
        http: &reqwest::Client,
        connections: usize,
    ) -> Result<Duration, Failure> {
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let walkers: Vec<_> = (0..connections.max(1))
            .map(|_| {
                let (clients, http, next) =
                    (Arc::clone(&self.clients), http.clone(), Arc::clone(&next));
                tokio::spawn(async move {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(client) = clients.get(index) else {
                            return Ok::<_, Failure>(());
                        };
                        client_credentials(&http, client).await?;
                    }
                })
            })
            .collect();
        for walker in walkers {
            walker.await.map_err(|e| e.to_string())??;
        }
        Ok(started.elapsed())
    }
}

async fn client_credentials(http: &reqwest::Client, client: &Client) -> Result<(), Failure> {
    let response = http
        .post(&client.token_url)
        .basic_auth(&client.client_id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    load::successful(response)
        .await?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// `client_credentials` at a tenant and application picked at random for each request.
pub struct RandomTenant {
    tenants: Arc<[Client]>,
    http: reqwest::Client,
}

impl Tenants {
    pub fn random_client_credentials(&self, http: &reqwest::Client) -> RandomTenant {
        RandomTenant {
            tenants: Arc::clone(&self.clients),
            http: http.clone(),
        }
    }

    /// The same requests, picked the same way, among the first tenant's applications
    /// only: what the random tenant is held against differs from it in nothing but the
    /// spread.
    pub fn one_tenant_client_credentials(&self, http: &reqwest::Client) -> RandomTenant {
        let first = &self.clients[..APPLICATIONS_PER_TENANT.min(self.clients.len())];
        RandomTenant {
            tenants: first.into(),
            http: http.clone(),
        }
    }
}

impl Scenario for RandomTenant {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        let connection: Box<dyn Connection> = Box::new(Picker {
            clients: Arc::clone(&self.tenants),
            http: self.http.clone(),
            // Any odd seed; distinct per connection so they do not walk in step.
            state: 0x9E37_79B9_7F4A_7C15 ^ ((index as u64) << 1 | 1),
        });
        Box::pin(std::future::ready(Ok(connection)))
    }
}

struct Picker {
    clients: Arc<[Client]>,
    http: reqwest::Client,
    state: u64,
}

impl Picker {
    /// xorshift64: uniform enough to spread requests over the tenants, and free.
    fn next_index(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % self.clients.len() as u64) as usize
    }
}

impl Connection for Picker {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            let index = self.next_index();
            client_credentials(&self.http, &self.clients[index]).await
        })
    }
}
