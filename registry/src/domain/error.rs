//! `DomainError`: why a rule refused. It names the rule and carries what the message
//! needs; it wraps no store or object-store failure and knows nothing of HTTP (the one
//! mapping to a status and a problem `code` is in `crate::error`).

use capstan_client::types::{
    BatchJobStatus, DeploymentPattern, PromotionStatus, VersionStatus, MAX_LABELS,
    MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN, MAX_TAGS, MAX_TAG_LEN, MAX_TEXT_LEN,
};
use capstan_client::Stage;

use super::paging::MAX_PAGE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// `name` is already shortened for display.
    #[error("token name {name:?} must be 1–128 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit, without `..`")]
    InvalidTokenName { name: String },
    #[error("token name {name:?} is reserved: the event log records the registry's own actions under it")]
    ReservedTokenName { name: String },
    #[error("this token is limited to other models than {model:?}")]
    ModelOutOfScope { model: String },
    #[error("models: {reason}")]
    InvalidModelPatterns { reason: String },
    #[error("only an admin token limited to no model may manage tokens, policies and webhooks")]
    NeedsUnscopedAdmin,
    #[error("at most {MAX_TAGS} tags are allowed, got {count}")]
    TooManyTags { count: usize },
    /// `tag` is already shortened for display.
    #[error("tag {tag:?} must be 1–{MAX_TAG_LEN} printable characters")]
    InvalidTag { tag: String },
    #[error("{field} must be at most {MAX_TEXT_LEN} bytes of text without NUL characters")]
    InvalidText { field: String },
    /// `format` is already shortened for display.
    #[error(
        "format {format:?} must be 1–64 characters of `a-z`, `0-9`, `.`, `_`, `+`, `-` (for example `onnx`, `linfa-logistic`, `pickle`)"
    )]
    InvalidFormat { format: String },
    /// `path` is already shortened for display.
    #[error("artifact path {path:?}: {reason}")]
    InvalidArtifactPath { path: String, reason: String },
    /// `given` is already shortened for display.
    #[error("Capstan cannot read source {given:?}: {reason}")]
    UnreadableSource { given: String, reason: String },
    /// A request of the MLflow API Capstan cannot take (a name it cannot hold, a tag key
    /// with `=`, a filter it does not parse…); `detail` says which rule.
    #[error("{detail}")]
    InvalidMlflowRequest { detail: String },
    #[error("version {version} is {}, only ready versions can be assigned to {pointer}", status.as_str())]
    VersionNotReady {
        version: i64,
        status: VersionStatus,
        pointer: String,
    },
    #[error("version {version} is archived and cannot be assigned to {pointer}")]
    VersionArchived { version: i64, pointer: String },
    #[error(
        "{stage} holds {} but the request expected {}; reload and retry",
        describe(*current),
        describe(*expected)
    )]
    StageConflict {
        stage: Stage,
        current: Option<i64>,
        expected: Option<i64>,
    },
    #[error("version {version} holds {stage}; promote another version, roll back, or remove it from the stage first")]
    VersionInStage { version: i64, stage: Stage },
    #[error("limit must be between 1 and {MAX_PAGE}, got {limit}")]
    InvalidLimit { limit: i64 },
    #[error("page_token is not a token this listing returned")]
    InvalidPageToken,
    #[error("{field} must be 1–256 characters without control characters")]
    InvalidLabel { field: &'static str },
    /// `url` is already shortened for display.
    #[error("cannot tell the format of {url:?}: name a .csv, .jsonl, .ndjson or .parquet object")]
    UnknownInputFormat { url: String },
    /// `url` is already shortened for display.
    #[error("the files under {url:?} are not all of one format ({first:?} and {other:?})")]
    MixedInputFormats {
        url: String,
        first: String,
        other: String,
    },
    #[error("the job is {}; only queued or running jobs can be cancelled", status.as_str())]
    JobNotCancellable { status: BatchJobStatus },
    #[error("the job is {}; only a succeeded job can be approved or rejected", status.as_str())]
    JobNotReviewable { status: BatchJobStatus },
    #[error("a rejection needs a reason")]
    ReasonRequired,
    /// `name` is already shortened for display.
    #[error("schedule name {name:?} must be 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    InvalidScheduleName { name: String },
    #[error("cron {cron:?} is not valid: {reason}")]
    InvalidCron { cron: String, reason: String },
    #[error("{timezone:?} is not an IANA time zone (such as UTC or Europe/Paris)")]
    InvalidTimezone { timezone: String },
    #[error(
        "a canary splits prediction traffic, which only model servers do: pattern {} cannot have one (use pattern api)",
        pattern.as_str()
    )]
    CanaryNeedsApi { pattern: DeploymentPattern },
    #[error("the canary must be a ref of the deployment's model {model:?}, not of {canary:?}")]
    CanaryOtherModel { model: String, canary: String },
    #[error("percent must be between 0 and 100, got {percent}")]
    InvalidPercent { percent: u8 },
    #[error("at most {MAX_LABELS} labels are allowed, got {count}")]
    TooManyLabels { count: usize },
    /// `key` is already shortened for display.
    #[error("label {key:?}: keys are 1–{MAX_LABEL_KEY_LEN} characters of letters, digits, '.', '_', '-' and '/', starting with a letter or digit; values at most {MAX_LABEL_VALUE_LEN} characters without control characters")]
    InvalidDeploymentLabel { key: String },
    #[error(
        "deployment {deployment:?} has pattern {}; only a batch deployment runs batch jobs",
        pattern.as_str()
    )]
    DeploymentNotBatch {
        deployment: String,
        pattern: DeploymentPattern,
    },
    #[error("deployment {deployment:?} consumes model {model:?}; the job scores {job_model:?}")]
    DeploymentOtherModel {
        deployment: String,
        model: String,
        job_model: String,
    },
    #[error("policy: {reason}")]
    InvalidPolicy { reason: String },
    #[error("version {version} breaks the promotion policy of {target}: {}", violations.join("; "))]
    PolicyViolation {
        version: i64,
        target: String,
        violations: Vec<String>,
    },
    #[error("{requester} asked for this promotion and cannot approve it: another promoter must")]
    SelfApproval { requester: String },
    #[error("{approver} has already approved this promotion request")]
    AlreadyApproved { approver: String },
    #[error("promotion request {id} expired; ask for the promotion again")]
    RequestExpired { id: String },
    #[error(
        "promotion request {id} is {status}; only a pending request can be approved or rejected"
    )]
    RequestNotPending { id: String, status: PromotionStatus },
}

pub type DomainResult<T> = Result<T, DomainError>;

fn describe(version: Option<i64>) -> String {
    version.map_or_else(|| "no version".to_owned(), |v| format!("version {v}"))
}
