//! etcd's fault knobs on top of the core chaos toolkit.
//!
//! The core's faults (kill, stop, pause, disconnect, partition, loss, …) work on etcd
//! members unchanged: they take a member name. What only etcd knows is supplied here:
//!
//! - **Target aliases**: `leader` names the member the cluster currently follows, so
//!   `chaos kill leader` kills whoever leads at that moment.
//! - **`kill majority`**: SIGKILLs a quorum's worth of members (the leader first), each
//!   as its own recorded experiment, to take the cluster's quorum away.
//! - **`disk-fill quota --ratio R`**: writes filler keys through the gateway until the
//!   backend holds `R` of `--quota-backend-bytes`, or etcd raises NOSPACE (R ≥ 1). The
//!   revert deletes the filler, compacts, defragments every member and disarms NOSPACE
//!   (etcd's own recovery procedure). It is held by the command that injected it (it
//!   waits out `--duration`; `chaos revert --all` undoes it too): the core's experiment
//!   store has no etcd revert step.
//!
//! - **`slow-disk MEMBER --write-iops N`** (or `--write-bps N`) is the core's disk
//!   throttle unchanged (a cgroup v1 blkio limit on the disk under the member's data
//!   volume, see `chaos::blkio`): etcd's WAL fsync waits for the capped device, which is
//!   what the wal-fsync-slow invariant and the disk-slow cause look for. `--delay` is
//!   the simulator's knob and is refused on a real member.

use std::path::Path;
use std::time::Duration;

use super::client::EtcdClientError;
use super::model::Observed;
use super::plan::quorum;
use super::subject::EtcdSubject;
use super::topology::Names;
use crate::chaos::cli::{ChaosArgs, ChaosCommand};
use crate::chaos::{Chaos, Fault, Target};
use crate::cli::CliError;
use crate::subject::Subject;

/// The key prefix filler values are written under.
pub const FILL_PREFIX: &[u8] = b"/operator-chaos/fill/";
/// Size of one filler value (etcd's default request limit is 1.5 MiB).
const FILL_VALUE_BYTES: usize = 512 * 1024;

/// The member the cluster follows, by name.
pub fn leader(obs: &Observed, names: &Names) -> Option<String> {
    let id = obs.leader_id()?;
    obs.ordinal_of_id(names, id).map(Names::member)
}

/// The members to kill to take quorum away: the leader first, then the lowest
/// ordinals, `quorum(n)` in all (of the running members).
pub fn majority(obs: &Observed, names: &Names) -> Vec<String> {
    let n = obs
        .cluster
        .as_ref()
        .map_or_else(|| obs.containers().len(), |c| c.members.len());
    let mut order: Vec<u32> = obs
        .containers()
        .iter()
        .filter(|(_, c)| c.status == crate::runtime::ContainerStatus::Running)
        .map(|(o, _)| *o)
        .collect();
    if let Some(l) = obs.leader_id().and_then(|id| obs.ordinal_of_id(names, id)) {
        order.retain(|o| *o != l);
        order.insert(0, l);
    }
    order
        .into_iter()
        .take(quorum(n))
        .map(Names::member)
        .collect()
}

fn resolve(target: &mut String, obs: &Observed, names: &Names) -> Result<(), CliError> {
    if target == "leader" {
        *target = leader(obs, names).ok_or(EtcdChaosError::NoLeader)?;
    }
    Ok(())
}

/// Errors of etcd's own fault knobs (the core's faults report the core's errors).
#[derive(Debug, thiserror::Error)]
pub enum EtcdChaosError {
    /// `leader` was named but no member reports one.
    #[error("no member reports a leader: `leader` names nobody")]
    NoLeader,
    /// The etcd client failed (filling the quota or recovering from it).
    #[error(transparent)]
    Client(#[from] EtcdClientError),
}

impl From<EtcdChaosError> for CliError {
    fn from(e: EtcdChaosError) -> Self {
        CliError::SubjectCommand(Box::new(e))
    }
}

impl From<EtcdClientError> for CliError {
    fn from(e: EtcdClientError) -> Self {
        EtcdChaosError::Client(e).into()
    }
}

/// Runs one `operator chaos` command against an etcd cluster.
///
/// # Errors
///
/// Injection, revert and client failures.
pub async fn run(s: &EtcdSubject, mut args: ChaosArgs, state_dir: &Path) -> Result<(), CliError> {
    let spec = s.spec();
    let names = Names::new(spec.name());
    let obs = s.observe().await?;
    let chaos = Chaos::new(s.runtime(), spec.name(), &spec.network_name(), state_dir)?;
    match &mut args.command {
        ChaosCommand::Kill {
            target, options, ..
        } if target == "majority" => {
            let victims = majority(&obs, &names);
            let duration = Duration::from(options.duration);
            for v in &victims {
                let e = chaos
                    .inject(
                        &Target::Member(v.clone()),
                        Fault::Kill {
                            restart_on_revert: false,
                        },
                        duration,
                    )
                    .await?;
                println!("{}", crate::chaos::cli::describe(&e));
            }
            println!(
                "killed {} of {} members: {}",
                victims.len(),
                obs.cluster
                    .as_ref()
                    .map_or(victims.len(), |c| c.members.len()),
                victims.join(", ")
            );
            return Ok(());
        }
        ChaosCommand::DiskFill {
            target,
            ratio,
            options,
        } if target == "quota" => {
            let bytes = fill_quota(s, &obs, *ratio).await?;
            println!(
                "filled the keyspace with {bytes} bytes under {:?}",
                String::from_utf8_lossy(FILL_PREFIX)
            );
            if !options.detach {
                tokio::time::sleep(Duration::from(options.duration)).await;
                let obs = s.observe().await?;
                recover_quota(s, &obs).await?;
                println!("reverted: filler deleted, compacted, defragmented, NOSPACE disarmed");
            }
            return Ok(());
        }
        ChaosCommand::Revert { all: true, .. } => {
            // The quota filler is not in the experiment store: undo it here (idempotent).
            recover_quota(s, &obs).await?;
            println!("quota filler: deleted, compacted, defragmented, alarms disarmed");
        }
        ChaosCommand::Kill { target, .. }
        | ChaosCommand::Stop { target, .. }
        | ChaosCommand::Pause { target, .. }
        | ChaosCommand::Restart { target }
        | ChaosCommand::Disconnect { target, .. }
        | ChaosCommand::Latency { target, .. }
        | ChaosCommand::Loss { target, .. }
        | ChaosCommand::Bandwidth { target, .. }
        | ChaosCommand::DiskFill { target, .. }
        | ChaosCommand::SlowDisk { target, .. }
        | ChaosCommand::Cpu { target, .. } => resolve(target, &obs, &names)?,
        ChaosCommand::Partition { a, b, .. } => {
            for t in a.iter_mut().chain(b.iter_mut()) {
                resolve(t, &obs, &names)?;
            }
        }
        _ => {}
    }
    let mut out = std::io::stdout();
    Ok(crate::chaos::cli::run(args, &chaos, &mut out).await?)
}

/// Writes filler values until the backend holds `ratio` of the quota or etcd refuses
/// with NOSPACE. Returns the bytes written.
///
/// # Errors
///
/// Client errors other than "database space exceeded".
pub async fn fill_quota(
    s: &EtcdSubject,
    obs: &Observed,
    ratio: f64,
) -> Result<u64, EtcdClientError> {
    let names = Names::new(s.spec().name());
    let base = EtcdSubject::any_endpoint(obs, &names)
        .ok_or_else(|| EtcdClientError::Endpoint("no running member".into()))?;
    let quota = s.spec().spec.quota_backend_bytes as f64;
    let value = vec![b'x'; FILL_VALUE_BYTES];
    let mut written = 0u64;
    for i in 0u64.. {
        let st = s.client().status(&base).await?;
        if st.db_size as f64 >= ratio * quota || !st.errors.is_empty() {
            break;
        }
        let mut key = FILL_PREFIX.to_vec();
        key.extend_from_slice(format!("{i:08}").as_bytes());
        match s.client().put(&base, &key, &value).await {
            Ok(()) => written += FILL_VALUE_BYTES as u64,
            Err(e) if e.to_string().contains("database space exceeded") => break,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// etcd's NOSPACE recovery: delete the filler, compact, defragment every member,
/// disarm the alarms.
///
/// # Errors
///
/// The first client error.
pub async fn recover_quota(s: &EtcdSubject, obs: &Observed) -> Result<(), EtcdClientError> {
    let names = Names::new(s.spec().name());
    let base = EtcdSubject::any_endpoint(obs, &names)
        .ok_or_else(|| EtcdClientError::Endpoint("no running member".into()))?;
    let c = s.client();
    let rev = c.delete_prefix(&base, FILL_PREFIX).await?;
    c.compact(&base, rev).await?;
    for ep in EtcdSubject::endpoints(obs).values() {
        c.defragment(ep).await?;
    }
    for a in c.alarms(&base).await?.alarms {
        c.disarm(&base, a.member_id, &a.alarm).await?;
    }
    Ok(())
}
