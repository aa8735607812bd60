//! `SigningKeyService`: a tenant's signing keys, public halves only, and their rotation.

use keyhaven_core::jose::SigningAlgorithm;
use keyhaven_core::model::{KeyState, SigningKey, Tenant};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_store::signing_keys;
use tonic::{Request, Response, Status};

use crate::caller::Caller;
use crate::convert;
use crate::error::AdminError;
use crate::keys;
use crate::names;
use crate::state::AdminState;

pub struct SigningKeyApi {
    state: AdminState,
}

impl SigningKeyApi {
    pub fn new(state: AdminState) -> Self {
        Self { state }
    }
}

fn algorithm(raw: &str) -> Result<SigningAlgorithm, AdminError> {
    SigningAlgorithm::parse(raw).ok_or_else(|| {
        let known = SigningAlgorithm::ALL
            .map(SigningAlgorithm::as_str)
            .join(", ");
        AdminError::invalid("algorithm", format!("must be one of {known} (got {raw:?})"))
    })
}

#[tonic::async_trait]
impl pb::signing_key_service_server::SigningKeyService for SigningKeyApi {
    async fn list_signing_keys(
        &self,
        request: Request<pb::ListSigningKeysRequest>,
    ) -> Result<Response<pb::ListSigningKeysResponse>, Status> {
        let caller = Caller::of(&request)?;
        let slug = names::tenant("parent", &request.get_ref().parent)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let keys = signing_keys::list(&self.state.store, &tenant.id)
            .await
            .map_err(AdminError::from)?;
        Ok(Response::new(pb::ListSigningKeysResponse {
            signing_keys: keys.iter().map(|k| to_proto(&tenant, k)).collect(),
        }))
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let slug = names::tenant("parent", &request.parent)?;
        caller.acting_on(request.parent.clone());
        let algorithm = algorithm(&request.algorithm)?;
        let tenant = caller.tenant(&self.state, &slug).await?;
        let new_next =
            keys::generate_sealed(&self.state, &tenant.id, algorithm, KeyState::Next).await?;
        // A retired key stays published until everything it signed has expired.
        let keep_published = tenant.lifetimes.access_token.max(tenant.lifetimes.id_token);
        let keys = signing_keys::rotate(
            &self.state.store,
            &caller.audit(),
            &tenant,
            algorithm,
            new_next,
            keep_published,
        )
        .await
        .map_err(AdminError::from_store(&request.parent))?;
        Ok(Response::new(pb::RotateSigningKeyResponse {
            signing_keys: keys.iter().map(|k| to_proto(&tenant, k)).collect(),
        }))
    }
}

/// The public view of a key: never the sealed private half.
fn to_proto(tenant: &Tenant, key: &SigningKey) -> pb::SigningKey {
    let state = match key.state {
        KeyState::Next => pb::SigningKeyState::Next,
        KeyState::Active => pb::SigningKeyState::Active,
        KeyState::Retired => pb::SigningKeyState::Retired,
    };
    pb::SigningKey {
        name: format!("tenants/{}/signingKeys/{}", tenant.slug, key.kid),
        kid: key.kid.clone(),
        algorithm: key.algorithm.as_str().to_owned(),
        state: state as i32,
        public_jwk: key.public_jwk.to_json().to_string(),
        create_time: Some(convert::timestamp(key.created_at)),
        activate_time: convert::optional_timestamp(key.activated_at),
        retire_time: convert::optional_timestamp(key.retired_at),
        publish_until_time: convert::optional_timestamp(key.publish_until),
    }
}
