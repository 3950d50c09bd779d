//! The gate of predictions that arrive outside HTTP — gRPC calls (`api/grpc`) and broker
//! messages (`api/messaging`): the same verifier and model scopes as the HTTP middleware
//! ([`super::auth`]), and its rule for predictions (any role may predict).

use capstan_client::types::Role;

use super::auth::{bearer_secret, Verifier};
use crate::domain::access::Caller;
use crate::error::RegistryError;

/// The gate of predictions that arrive outside HTTP (gRPC calls, broker messages): the
/// HTTP gate's verifier and model scopes, and its rule for predictions (any role).
#[derive(Clone)]
pub struct PredictionGate {
    /// Off: everyone may predict (no token file, no `--auth-from-registry`).
    pub enabled: bool,
    pub verifier: Verifier,
}

impl PredictionGate {
    /// Lets in a prediction from `model` by whoever presents `authorization` (the value
    /// of an `authorization` header or metadata entry, `Bearer <token>`).
    pub async fn admit(
        &self,
        authorization: Option<&str>,
        model: &str,
    ) -> Result<Caller, RegistryError> {
        if !self.enabled {
            return Ok(Caller::anonymous());
        }
        let secret = authorization.and_then(bearer_secret).ok_or_else(|| {
            RegistryError::unauthorized(
                "this request needs a token: send `authorization: Bearer <token>`",
            )
        })?;
        let caller = self
            .verifier
            .caller(secret)
            .await?
            .ok_or_else(|| RegistryError::unauthorized("the token is unknown or revoked"))?;
        if !caller.sees(model) {
            return Err(RegistryError::not_found(
                "model_not_found",
                format!("model {model:?} does not exist"),
            ));
        }
        if !caller.has(Role::Reader) {
            return Err(RegistryError::forbidden(
                "insufficient_role",
                format!(
                    "predictions need the reader role; token {:?} is {}",
                    caller.name, caller.role
                ),
            ));
        }
        Ok(caller)
    }
}
