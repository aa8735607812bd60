//! Keyhaven's control plane: the tonic services of `keyhaven.admin.v1`, the
//! management-token auth layer in front of them, health and reflection.
//!
//! Invariants: every RPC has one row in [`permissions::RPCS`] and the auth layer checks
//! nothing else; gRPC status codes are chosen only in `error.rs`; services act only on
//! what the caller's token reaches, and answer NOT_FOUND for anything else that exists.

pub mod auth;
pub mod caller;
mod convert;
pub mod error;
pub mod keys;
mod names;
mod pagination;
pub mod permissions;
mod services;
pub mod state;

use keyhaven_proto::admin::v1 as pb;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

pub use auth::AuthLayer;
pub use keyhaven_core::Entropy;
pub use state::{AdminState, OsEntropy};

/// The control plane's gRPC services, ready to be served behind [`AuthLayer`].
pub struct ControlPlane {
    pub routes: Routes,
    pub health: HealthReporter,
}

/// Fully-qualified names of the services health is reported for.
pub const SERVICE_NAMES: &[&str] = &[
    "keyhaven.admin.v1.OrganizationService",
    "keyhaven.admin.v1.TenantService",
    "keyhaven.admin.v1.ApplicationService",
    "keyhaven.admin.v1.ManagementTokenService",
    "keyhaven.admin.v1.AuditService",
    "keyhaven.admin.v1.UserService",
    "keyhaven.admin.v1.SigningKeyService",
    "keyhaven.admin.v1.SessionService",
];

pub async fn control_plane(
    state: AdminState,
) -> Result<ControlPlane, tonic_reflection::server::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::organization_service_server::OrganizationServiceServer<
            services::organization::OrganizationApi,
        >>()
        .await;
    health
        .set_serving::<pb::tenant_service_server::TenantServiceServer<services::tenant::TenantApi>>(
        )
        .await;
    health
        .set_serving::<pb::application_service_server::ApplicationServiceServer<
            services::application::ApplicationApi,
        >>()
        .await;
    health
        .set_serving::<pb::management_token_service_server::ManagementTokenServiceServer<
            services::management_token::ManagementTokenApi,
        >>()
        .await;
    health
        .set_serving::<pb::audit_service_server::AuditServiceServer<services::audit::AuditApi>>()
        .await;
    health
        .set_serving::<pb::user_service_server::UserServiceServer<services::user::UserApi>>()
        .await;
    health
        .set_serving::<pb::signing_key_service_server::SigningKeyServiceServer<
            services::signing_key::SigningKeyApi,
        >>()
        .await;
    health
        .set_serving::<pb::session_service_server::SessionServiceServer<
            services::session::SessionApi,
        >>()
        .await;

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let routes = Routes::new(health_service)
        .add_service(reflection)
        .add_service(
            pb::organization_service_server::OrganizationServiceServer::new(
                services::organization::OrganizationApi::new(state.clone()),
            ),
        )
        .add_service(pb::tenant_service_server::TenantServiceServer::new(
            services::tenant::TenantApi::new(state.clone()),
        ))
        .add_service(
            pb::application_service_server::ApplicationServiceServer::new(
                services::application::ApplicationApi::new(state.clone()),
            ),
        )
        .add_service(
            pb::management_token_service_server::ManagementTokenServiceServer::new(
                services::management_token::ManagementTokenApi::new(state.clone()),
            ),
        )
        .add_service(pb::audit_service_server::AuditServiceServer::new(
            services::audit::AuditApi::new(state.clone()),
        ))
        .add_service(pb::user_service_server::UserServiceServer::new(
            services::user::UserApi::new(state.clone()),
        ))
        .add_service(pb::session_service_server::SessionServiceServer::new(
            services::session::SessionApi::new(state.clone()),
        ))
        .add_service(
            pb::signing_key_service_server::SigningKeyServiceServer::new(
                services::signing_key::SigningKeyApi::new(state),
            ),
        );
    Ok(ControlPlane { routes, health })
}

/// Marks every service as not serving, so that probes stop sending traffic while the
/// server drains.
pub async fn set_not_serving(health: &HealthReporter) {
    for name in SERVICE_NAMES {
        health
            .set_service_status(*name, tonic_health::ServingStatus::NotServing)
            .await;
    }
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
}
