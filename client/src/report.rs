//! Reporting an embedded model to its deployment (pattern 1 in the control plane): an
//! application with a model compiled in tells the registry which digest it runs, at start
//! and then every heartbeat from a background thread, so the operator sees which builds
//! still run an old model. Blocking (ureq), no async runtime: what `build` already links.
//!
//! ```no_run
//! # // What the build script's `emit_env` sets, so the example compiles here.
//! # macro_rules! env { ($name:literal) => { "set by build.rs" } }
//! // src/main.rs of an app whose build.rs ran `capstan_client::build::fetch(..).emit_env("BC_MODEL")`
//! let _reporter = capstan_client::build::report_embedded_from_env(
//!     env!("BC_MODEL_VERSION"),
//!     env!("BC_MODEL_DIGEST"),
//! );
//! ```

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::blocking::Client;
use crate::config::non_empty_var;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::instance::default_instance_id;
use crate::names::ModelName;
use crate::types::{InstanceReport, InstanceStatus};

/// The deployment an embedded app reports to, when set (with `CAPSTAN_URL`).
pub const DEPLOYMENT_VAR: &str = "CAPSTAN_DEPLOYMENT";
/// The id it reports as (default `<hostname>-<pid>`).
pub const INSTANCE_VAR: &str = "CAPSTAN_INSTANCE_ID";

/// Keeps reporting until dropped (or [`EmbeddedReporter::stop`]).
#[derive(Debug)]
pub struct EmbeddedReporter {
    instance: ModelName,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedReporter {
    /// The id this process reports as.
    pub fn instance(&self) -> &ModelName {
        &self.instance
    }

    /// Stops the heartbeat (the instance goes stale after three missed beats).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedReporter {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Reports `version` / `digest` (as `emit_env` passed them: `<PREFIX>_VERSION`,
/// `<PREFIX>_DIGEST`) to the deployment `CAPSTAN_DEPLOYMENT` names on the registry
/// `CAPSTAN_URL` names, as `CAPSTAN_INSTANCE_ID` (default `<hostname>-<pid>`).
/// `Ok(None)` when no deployment is configured: reporting is opt-in.
pub fn report_embedded_from_env(version: &str, digest: &str) -> Result<Option<EmbeddedReporter>> {
    let Some(deployment) = non_empty_var(DEPLOYMENT_VAR) else {
        return Ok(None);
    };
    let invalid = |what: &str, e: &dyn std::fmt::Display| Error::Invalid(format!("{what}: {e}"));
    let deployment = ModelName::parse(&deployment).map_err(|e| invalid(DEPLOYMENT_VAR, &e))?;
    let instance = match non_empty_var(INSTANCE_VAR) {
        Some(id) => ModelName::parse(&id).map_err(|e| invalid(INSTANCE_VAR, &e))?,
        None => default_instance_id(),
    };
    let version: i64 = version
        .parse()
        .map_err(|e| invalid("the embedded version", &e))?;
    let digest = Digest::parse(digest).map_err(|e| invalid("the embedded digest", &e))?;
    report_embedded(Client::from_env()?, deployment, instance, version, digest).map(Some)
}

/// Reports that this process runs `version` (`digest`) of deployment `deployment`: once
/// now (an error — no such deployment, no registry — is returned), then every heartbeat
/// the deployment asks for, from a background thread, until the reporter is dropped.
pub fn report_embedded(
    client: Client,
    deployment: ModelName,
    instance: ModelName,
    version: i64,
    digest: Digest,
) -> Result<EmbeddedReporter> {
    let heartbeat =
        Duration::from_millis(client.get_deployment(&deployment)?.heartbeat_ms.max(100));
    let report = InstanceReport {
        version: Some(version),
        digest: Some(digest),
        canary: None,
        status: InstanceStatus::Serving,
        detail: Some("embedded at build time".to_owned()),
    };
    client.report_instance(&deployment, &instance, &report)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let id = instance.clone();
    let thread = std::thread::Builder::new()
        .name("capstan-report".to_owned())
        .spawn(move || loop {
            match stopped.recv_timeout(heartbeat) {
                Err(RecvTimeoutError::Timeout) => {
                    // Errors are retried at the next beat.
                    let _ = client.report_instance(&deployment, &id, &report);
                }
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .map_err(|e| Error::Invalid(format!("cannot start the report thread: {e}")))?;
    Ok(EmbeddedReporter {
        instance,
        stop: Some(stop),
        thread: Some(thread),
    })
}
