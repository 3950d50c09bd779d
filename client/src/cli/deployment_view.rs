//! How deployments are printed: the listing, the whole document, and the status block
//! (a state line and the instances table, the desired version marked `*`). Formatting
//! only; the commands are in `deployments.rs`.

use std::io::Write;

use crate::types::{Deployment, DeploymentInstance, DeploymentState, VersionDigest};

use super::output::{or_dash, short_digest, time, write_fields, Table};

/// ANSI colours for the state word, used only when stdout is a terminal and `$NO_COLOR`
/// is unset.
fn coloured_state(state: DeploymentState, colour: bool) -> String {
    if !colour {
        return state.as_str().to_owned();
    }
    let code = match state {
        DeploymentState::InSync => "32",
        DeploymentState::RollingOut => "33",
        DeploymentState::Drifted => "31",
        DeploymentState::NoInstances => "2",
    };
    format!("\x1b[1;{code}m{}\x1b[0m", state.as_str())
}

fn version_digest(target: Option<&VersionDigest>) -> String {
    target.map_or_else(
        || "- (the ref names no ready version)".to_owned(),
        |t| format!("version {} ({})", t.version, short_digest(&t.digest)),
    )
}

/// `live/total`: instances reporting on time, of those known.
fn live_of_total(deployment: &Deployment) -> String {
    let live = deployment.instances.iter().filter(|i| !i.stale).count();
    format!("{live}/{}", deployment.instances.len())
}

pub fn list(out: &mut dyn Write, deployments: &[Deployment]) -> std::io::Result<()> {
    let mut table = Table::new(&["NAME", "MODEL", "PATTERN", "DESIRED", "STATE", "LIVE"]);
    for d in deployments {
        table.row(vec![
            d.name.to_string(),
            d.model.clone(),
            d.pattern.as_str().to_owned(),
            or_dash(d.desired.as_ref().map(|t| t.version)),
            d.state.as_str().to_owned(),
            live_of_total(d),
        ]);
    }
    table.write(out)
}

/// The whole document: its spec, what it should run, its state and instances.
pub fn show(out: &mut dyn Write, d: &Deployment, colour: bool) -> std::io::Result<()> {
    let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut fields = vec![
        ("name", d.name.to_string()),
        ("model", d.model.clone()),
        ("pattern", d.pattern.as_str().to_owned()),
        ("description", or_dash(d.description.as_ref())),
        ("labels", super::output::list(labels)),
        ("desired", version_digest(d.desired.as_ref())),
    ];
    if let Some(canary) = &d.canary {
        fields.push(("canary", canary_line(canary)));
    }
    fields.extend([
        ("state", coloured_state(d.state, colour)),
        ("reason", d.reason.clone()),
        ("desired since", time(&d.desired_since)),
        ("heartbeat", format!("{} ms", d.heartbeat_ms)),
        ("created", time(&d.created_at)),
        ("updated", time(&d.updated_at)),
    ]);
    write_fields(out, &fields)?;
    writeln!(out)?;
    instances(out, d)
}

fn canary_line(canary: &crate::types::Canary) -> String {
    let target = match (canary.version, &canary.digest) {
        (Some(version), Some(digest)) => format!("version {version} ({})", short_digest(digest)),
        _ => "no ready version".to_owned(),
    };
    format!("{} at {}% → {target}", canary.model, canary.percent)
}

/// The status block: what the deployment should run, its state and why, and its
/// instances.
pub fn status(out: &mut dyn Write, d: &Deployment, colour: bool) -> std::io::Result<()> {
    let mut fields = vec![
        (
            "deployment",
            format!("{} ({} of {})", d.name, d.pattern.as_str(), d.model),
        ),
        ("desired", version_digest(d.desired.as_ref())),
    ];
    if let Some(canary) = &d.canary {
        fields.push(("canary", canary_line(canary)));
    }
    fields.push((
        "state",
        format!("{}: {}", coloured_state(d.state, colour), d.reason),
    ));
    write_fields(out, &fields)?;
    writeln!(out)?;
    instances(out, d)
}

/// The instances table; `*` marks a version that is the desired one (or the canary's).
fn instances(out: &mut dyn Write, d: &Deployment) -> std::io::Result<()> {
    if d.instances.is_empty() {
        return writeln!(out, "no instances have reported");
    }
    let desired = d.desired.as_ref();
    let canary = d.canary.as_ref().and_then(|c| c.version.zip(c.digest));
    let mut table = Table::new(&[
        "INSTANCE",
        "VERSION",
        "CANARY",
        "STATUS",
        "LAST SEEN",
        "STALE",
        "DETAIL",
    ]);
    for i in &d.instances {
        let version = match (i.version, &i.digest) {
            (Some(version), Some(digest)) => {
                let wanted = desired.is_some_and(|t| t.version == version && t.digest == *digest);
                format!("{version}{}", if wanted { " *" } else { "" })
            }
            _ => "-".to_owned(),
        };
        let canary_cell = i.canary.as_ref().map_or_else(
            || "-".to_owned(),
            |c| {
                let wanted = canary.is_some_and(|(v, d)| v == c.version && d == c.digest);
                format!("{}{}", c.version, if wanted { " *" } else { "" })
            },
        );
        table.row(vec![
            i.id.clone(),
            version,
            canary_cell,
            i.status.as_str().to_owned(),
            time(&i.last_seen),
            if i.stale { "yes" } else { "no" }.to_owned(),
            or_dash(i.detail.as_ref()),
        ]);
    }
    table.write(out)?;
    writeln!(out, "* the version the ref (or the canary's) names now")
}

/// What `status --watch` compares to tell a change from a heartbeat: everything but
/// the times instances were last seen.
pub fn change_key(d: &Deployment) -> String {
    let instances: Vec<String> = d.instances.iter().map(instance_key).collect();
    format!(
        "{}|{}|{:?}|{:?}|{}",
        d.state.as_str(),
        d.reason,
        d.desired,
        d.canary,
        instances.join(";")
    )
}

fn instance_key(i: &DeploymentInstance) -> String {
    format!(
        "{}:{:?}:{:?}:{:?}:{}:{}:{:?}",
        i.id,
        i.version,
        i.digest,
        i.canary,
        i.status.as_str(),
        i.stale,
        i.detail
    )
}
