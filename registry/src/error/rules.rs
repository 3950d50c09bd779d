//! The status and `code` each refused rule is answered with: a [`DomainError`] from
//! `domain/` and a [`WebhookRuleError`] become a [`RegistryError`] here, in one table each.

use super::RegistryError;
use crate::domain::webhooks::WebhookRuleError;
use crate::domain::DomainError;

/// A refused rule: the status and `code` clients see for each.
impl From<DomainError> for RegistryError {
    fn from(error: DomainError) -> Self {
        let detail = error.to_string();
        match error {
            DomainError::InvalidTokenName { .. } | DomainError::ReservedTokenName { .. } => {
                RegistryError::bad_request("invalid_token_name", detail)
            }
            DomainError::InvalidModelPatterns { .. } => {
                RegistryError::bad_request("invalid_models", detail)
            }
            DomainError::NeedsUnscopedAdmin => RegistryError::forbidden("scoped_token", detail),
            DomainError::ModelOutOfScope { .. } => {
                RegistryError::forbidden("model_out_of_scope", detail)
            }
            DomainError::TooManyTags { .. } | DomainError::InvalidTag { .. } => {
                RegistryError::bad_request("invalid_tags", detail)
            }
            DomainError::InvalidText { .. } => RegistryError::bad_request("invalid_text", detail),
            DomainError::InvalidMlflowRequest { .. } => {
                RegistryError::bad_request("invalid_mlflow_request", detail)
            }
            DomainError::InvalidFormat { .. } => {
                RegistryError::bad_request("invalid_format", detail)
            }
            DomainError::InvalidArtifactPath { .. } => {
                RegistryError::bad_request("invalid_path", detail)
            }
            DomainError::UnreadableSource { .. } => {
                RegistryError::bad_request("unreadable_source", detail)
            }
            DomainError::InvalidLimit { .. } => RegistryError::bad_request("invalid_limit", detail),
            DomainError::InvalidPageToken => {
                RegistryError::bad_request("invalid_page_token", detail)
            }
            DomainError::VersionNotReady { .. } => {
                RegistryError::conflict("version_not_ready", detail)
            }
            DomainError::VersionArchived { .. } => {
                RegistryError::conflict("version_archived", detail)
            }
            DomainError::StageConflict { .. } => RegistryError::conflict("stage_conflict", detail),
            DomainError::VersionInStage { .. } => {
                RegistryError::conflict("version_in_stage", detail)
            }
            DomainError::InvalidLabel { field } => RegistryError::bad_request(
                match field {
                    "id_column" => "invalid_id_column",
                    _ => "invalid_dataset_name",
                },
                detail,
            ),
            DomainError::UnknownInputFormat { .. } => {
                RegistryError::unprocessable("unknown_input_format", detail)
            }
            DomainError::MixedInputFormats { .. } => {
                RegistryError::unprocessable("mixed_input_formats", detail)
            }
            DomainError::JobNotCancellable { .. } => {
                RegistryError::conflict("job_not_cancellable", detail)
            }
            DomainError::JobNotReviewable { .. } => {
                RegistryError::conflict("job_not_reviewable", detail)
            }
            DomainError::ReasonRequired => RegistryError::bad_request("reason_required", detail),
            DomainError::InvalidScheduleName { .. } => {
                RegistryError::bad_request("invalid_schedule_name", detail)
            }
            DomainError::InvalidCron { .. } => RegistryError::unprocessable("invalid_cron", detail),
            DomainError::InvalidTimezone { .. } => {
                RegistryError::unprocessable("invalid_timezone", detail)
            }
            DomainError::CanaryNeedsApi { .. } | DomainError::CanaryOtherModel { .. } => {
                RegistryError::unprocessable("invalid_canary", detail)
            }
            DomainError::DeploymentNotBatch { .. } => {
                RegistryError::unprocessable("deployment_not_batch", detail)
            }
            DomainError::DeploymentOtherModel { .. } => {
                RegistryError::unprocessable("deployment_model_mismatch", detail)
            }
            DomainError::InvalidPercent { .. } => {
                RegistryError::bad_request("invalid_percent", detail)
            }
            DomainError::TooManyLabels { .. } | DomainError::InvalidDeploymentLabel { .. } => {
                RegistryError::bad_request("invalid_label", detail)
            }
            DomainError::InvalidPolicy { .. } => {
                RegistryError::bad_request("invalid_policy", detail)
            }
            DomainError::PolicyViolation { .. } => {
                RegistryError::unprocessable("policy_violation", detail)
            }
            DomainError::SelfApproval { .. } => RegistryError::forbidden("self_approval", detail),
            DomainError::AlreadyApproved { .. } => {
                RegistryError::conflict("already_approved", detail)
            }
            DomainError::RequestExpired { .. } => {
                RegistryError::conflict("request_expired", detail)
            }
            DomainError::RequestNotPending { .. } => {
                RegistryError::conflict("request_not_pending", detail)
            }
        }
    }
}

/// A refused webhook setting (see `domain::webhooks`).
impl From<WebhookRuleError> for RegistryError {
    fn from(error: WebhookRuleError) -> Self {
        let detail = error.to_string();
        match error {
            WebhookRuleError::InvalidUrl { .. } => {
                RegistryError::bad_request("invalid_webhook_url", detail)
            }
            WebhookRuleError::UrlNotAllowed { .. } => {
                RegistryError::bad_request("webhook_url_not_allowed", detail)
            }
            WebhookRuleError::Unresolvable { .. } => {
                RegistryError::bad_request("webhook_url_unresolvable", detail)
            }
            WebhookRuleError::UnknownEventKind { .. } => {
                RegistryError::unprocessable("unknown_event_kind", detail)
            }
            WebhookRuleError::InvalidEvents => {
                RegistryError::unprocessable("invalid_events", detail)
            }
        }
    }
}
