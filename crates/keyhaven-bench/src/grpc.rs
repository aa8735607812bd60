//! The control-plane scenarios, over gRPC: each connection is a tonic client of its own
//! over one of a few HTTP/2 channels (as an operator's tools would share one), driving
//! `ApplicationService` Get, List and Create, and the trivial endpoint they are held
//! against, `grpc.health.v1.Health/Check` of the same server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyhaven_proto::admin::v1 as pb;
use pb::application_service_client::ApplicationServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

use crate::load::{BoxFuture, Connection, Failure, Scenario};
use crate::provision;

/// HTTP/2 channels the connections of a scenario share, round robin.
const CHANNELS: usize = 4;

/// The management token on every call.
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Bearer {
    pub fn new(token: &str) -> Result<Self, Failure> {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().map_err(text)?;
        Ok(Self(value))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The control plane as the scenarios see it: its channels, the token, and the tenant
/// and application they read.
pub struct ControlPlane {
    channels: Vec<Channel>,
    bearer: Bearer,
    /// `tenants/{tenant}`.
    pub parent: String,
    /// `tenants/{tenant}/applications/{client_id}` of an existing application.
    pub application: String,
}

impl ControlPlane {
    pub async fn connect(
        admin_url: &str,
        bearer: Bearer,
        parent: String,
        application: String,
    ) -> Result<Self, Failure> {
        let mut channels = Vec::with_capacity(CHANNELS);
        for _ in 0..CHANNELS {
            let channel = Channel::from_shared(admin_url.to_owned())
                .map_err(text)?
                .connect()
                .await
                .map_err(text)?;
            channels.push(channel);
        }
        Ok(Self {
            channels,
            bearer,
            parent,
            application,
        })
    }

    fn channel(&self, index: usize) -> Channel {
        self.channels[index % self.channels.len()].clone()
    }

    fn applications(
        &self,
        index: usize,
    ) -> ApplicationServiceClient<InterceptedService<Channel, Bearer>> {
        ApplicationServiceClient::with_interceptor(self.channel(index), self.bearer.clone())
    }
}

/// Which call a control-plane scenario makes.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// `grpc.health.v1.Health/Check`: the trivial endpoint of the gRPC stack.
    HealthCheck,
    GetApplication,
    ListApplications,
    /// A write: a new service application per iteration, each with a name of its own.
    CreateApplication,
}

/// A control-plane scenario: `call`, once per iteration.
pub struct Admin {
    pub plane: Arc<ControlPlane>,
    pub call: Call,
    /// Numbers the created applications' names across connections.
    created: Arc<AtomicU64>,
}

impl Admin {
    pub fn new(plane: Arc<ControlPlane>, call: Call) -> Self {
        Self {
            plane,
            call,
            created: Arc::default(),
        }
    }
}

impl Scenario for Admin {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        let connection = AdminConnection {
            health: HealthClient::with_interceptor(
                self.plane.channel(index),
                self.plane.bearer.clone(),
            ),
            applications: self.plane.applications(index),
            plane: self.plane.clone(),
            call: self.call,
            created: self.created.clone(),
        };
        Box::pin(std::future::ready(Ok(
            Box::new(connection) as Box<dyn Connection>
        )))
    }
}

struct AdminConnection {
    health: HealthClient<InterceptedService<Channel, Bearer>>,
    applications: ApplicationServiceClient<InterceptedService<Channel, Bearer>>,
    plane: Arc<ControlPlane>,
    call: Call,
    created: Arc<AtomicU64>,
}

impl Connection for AdminConnection {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            match self.call {
                Call::HealthCheck => {
                    let answer = self
                        .health
                        .check(tonic_health::pb::HealthCheckRequest::default())
                        .await
                        .map_err(text)?
                        .into_inner();
                    if answer.status
                        != tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                    {
                        return Err(format!("health status {}", answer.status));
                    }
                }
                Call::GetApplication => {
                    self.applications
                        .get_application(pb::GetApplicationRequest {
                            name: self.plane.application.clone(),
                        })
                        .await
                        .map_err(text)?;
                }
                Call::ListApplications => {
                    let listed = self
                        .applications
                        .list_applications(pb::ListApplicationsRequest {
                            parent: self.plane.parent.clone(),
                            page_size: 10,
                            page_token: String::new(),
                        })
                        .await
                        .map_err(text)?
                        .into_inner();
                    if listed.applications.is_empty() {
                        return Err("an empty list of applications".into());
                    }
                }
                Call::CreateApplication => {
                    let n = self.created.fetch_add(1, Ordering::Relaxed);
                    self.applications
                        .create_application(provision::service_application(
                            self.plane.parent.clone(),
                            format!("Created by the benchmark {n}"),
                        ))
                        .await
                        .map_err(text)?;
                }
            }
            Ok(())
        })
    }
}

fn text(e: impl std::fmt::Display) -> Failure {
    e.to_string()
}
