//! An in-process cluster of simulated PD members and TiKV stores on loopback ports, for
//! tests and demos without Docker. Every port is pre-bound on `127.0.0.1:0` so URLs are
//! known before members start; kill/pause/partition act on the real tasks and sockets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::pd::{start_pd, PdConfig, PdHandle};
use super::tikv::{start_tikv, TikvConfig, TikvHandle, TikvNode};
use super::wire::{LogSink, TomlValue};
use super::SimError;

/// What to start.
#[derive(Debug, Clone)]
pub struct SimClusterConfig {
    /// PD members (1..=5).
    pub pd: usize,
    /// TiKV stores.
    pub tikv: usize,
    /// Wall-clock divisor for simulated durations.
    pub time_factor: f64,
    /// Seed.
    pub seed: u64,
    /// Regions created at bootstrap.
    pub initial_regions: u64,
    /// PD `--config` overrides (`schedule.max-store-down-time` = `"1m"`, ...).
    pub pd_overrides: BTreeMap<String, TomlValue>,
    /// TiKV `--config` overrides (`raftstore.max-peer-down-duration`, ...).
    pub tikv_overrides: BTreeMap<String, TomlValue>,
    /// Where data dirs go (a fresh temp dir when None).
    pub base_dir: Option<PathBuf>,
    /// Name members as the operator's topology does for this cluster name: PD members
    /// `pd-0`, `pd-1`, …, and TiKV stores advertising `NAME-tikv-N:port` (status too), so
    /// PD's view looks like a Docker-run cluster's and the operator's invariants can
    /// match stores to members. The sockets stay on loopback. `None`: `pd0` and
    /// `127.0.0.1:port`.
    pub operator_names: Option<String>,
}

impl Default for SimClusterConfig {
    fn default() -> Self {
        Self {
            pd: 1,
            tikv: 3,
            time_factor: 1.0,
            seed: 0,
            initial_regions: 24,
            pd_overrides: BTreeMap::new(),
            tikv_overrides: BTreeMap::new(),
            base_dir: None,
            operator_names: None,
        }
    }
}

struct PdSlot {
    cfg: PdConfig,
    client_port: u16,
    peer_port: u16,
    handle: Option<PdHandle>,
    log: LogSink,
}

struct TikvSlot {
    cfg: TikvConfig,
    port: u16,
    status_port: u16,
    handle: Option<TikvHandle>,
}

/// A running in-process cluster.
pub struct InProcessCluster {
    pds: Vec<PdSlot>,
    tikvs: Vec<TikvSlot>,
    cancel: CancellationToken,
    dir: PathBuf,
    owns_dir: bool,
}

impl std::fmt::Debug for InProcessCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessCluster")
            .field("pd", &self.pd_urls())
            .finish()
    }
}

async fn bind() -> Result<(TcpListener, u16), SimError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| SimError::Bind("127.0.0.1:0".into(), e.to_string()))?;
    let p = l
        .local_addr()
        .map_err(|e| SimError::Bind("127.0.0.1:0".into(), e.to_string()))?
        .port();
    Ok((l, p))
}

async fn bind_port(port: u16) -> Result<TcpListener, SimError> {
    let addr = format!("127.0.0.1:{port}");
    let mut last = String::new();
    for _ in 0..50 {
        match TcpListener::bind(&addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(SimError::Bind(addr, last))
}

fn pd_name(cfg: &SimClusterConfig, i: usize) -> String {
    match cfg.operator_names {
        Some(_) => format!("pd-{i}"),
        None => format!("pd{i}"),
    }
}

fn memory_sink() -> LogSink {
    LogSink::Memory(Arc::new(parking_lot::Mutex::new(Default::default())))
}

impl InProcessCluster {
    /// Starts `cfg.pd` PD members and `cfg.tikv` TiKV stores.
    ///
    /// # Guarantees
    /// Returns once every listener is bound and every task runs. It does not wait for a
    /// PD leader or for stores to register; use [`Self::wait_ready`] for that.
    pub async fn start(cfg: SimClusterConfig) -> Result<Self, SimError> {
        let (dir, owns_dir) = match &cfg.base_dir {
            Some(d) => (d.clone(), false),
            None => {
                let d = std::env::temp_dir().join(format!(
                    "tikv-sim-{}-{}",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                (d, true)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| SimError::Io(e.to_string()))?;
        let cancel = CancellationToken::new();
        let mut listeners = Vec::new();
        for _ in 0..cfg.pd.max(1) {
            listeners.push((bind().await?, bind().await?));
        }
        let initial: Vec<(String, String)> = listeners
            .iter()
            .enumerate()
            .map(|(i, (_, (_, pp)))| (pd_name(&cfg, i), format!("http://127.0.0.1:{pp}")))
            .collect();
        let mut pds = Vec::new();
        for (i, ((cl, cp), (pl, pp))) in listeners.into_iter().enumerate() {
            let mut c = PdConfig::new(&pd_name(&cfg, i));
            c.client_urls = vec![format!("http://127.0.0.1:{cp}")];
            c.peer_urls = vec![format!("http://127.0.0.1:{pp}")];
            c.initial_cluster = initial.clone();
            c.data_dir = Some(dir.join(format!("pd{i}")));
            c.time_factor = cfg.time_factor;
            c.seed = cfg.seed;
            c.initial_regions = cfg.initial_regions;
            c.overrides = cfg.pd_overrides.clone();
            let log = memory_sink();
            c.log = log.clone();
            let h = start_pd(c.clone(), Some((cl, pl)), cancel.child_token()).await?;
            pds.push(PdSlot {
                cfg: c,
                client_port: cp,
                peer_port: pp,
                handle: Some(h),
                log,
            });
        }
        let pd_eps: Vec<String> = pds
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.client_port))
            .collect();
        let mut me = Self {
            pds,
            tikvs: Vec::new(),
            cancel,
            dir,
            owns_dir,
        };
        for _ in 0..cfg.tikv {
            me.add_tikv_with(&pd_eps, &cfg).await?;
        }
        Ok(me)
    }

    async fn add_tikv_with(
        &mut self,
        pd_eps: &[String],
        cfg: &SimClusterConfig,
    ) -> Result<usize, SimError> {
        let i = self.tikvs.len();
        let (gl, gp) = bind().await?;
        let (sl, sp) = bind().await?;
        let mut c = TikvConfig::new(pd_eps);
        c.addr = format!("127.0.0.1:{gp}");
        c.status_addr = format!("127.0.0.1:{sp}");
        if let Some(name) = &cfg.operator_names {
            c.advertise_addr = Some(format!("{name}-tikv-{i}:{gp}"));
            c.advertise_status_addr = Some(format!("{name}-tikv-{i}:{sp}"));
        }
        c.data_dir = Some(self.dir.join(format!("tikv{i}")));
        c.time_factor = cfg.time_factor;
        c.seed = cfg.seed;
        c.overrides = cfg.tikv_overrides.clone();
        c.log = memory_sink();
        let h = start_tikv(c.clone(), Some((gl, sl)), self.cancel.child_token()).await?;
        self.tikvs.push(TikvSlot {
            cfg: c,
            port: gp,
            status_port: sp,
            handle: Some(h),
        });
        Ok(i)
    }

    /// Adds one more TiKV store (scale-out); returns its index.
    pub async fn add_tikv(&mut self, cfg: &SimClusterConfig) -> Result<usize, SimError> {
        let eps: Vec<String> = self
            .pds
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.client_port))
            .collect();
        self.add_tikv_with(&eps, cfg).await
    }

    /// PD client URLs.
    pub fn pd_urls(&self) -> Vec<String> {
        self.pds
            .iter()
            .map(|p| format!("http://127.0.0.1:{}", p.client_port))
            .collect()
    }

    /// TiKV status URLs.
    pub fn tikv_status_urls(&self) -> Vec<String> {
        self.tikvs
            .iter()
            .map(|t| format!("http://127.0.0.1:{}", t.status_port))
            .collect()
    }

    /// TiKV advertised addresses (`127.0.0.1:port`).
    pub(crate) fn tikv_addrs(&self) -> Vec<String> {
        self.tikvs
            .iter()
            .map(|t| format!("127.0.0.1:{}", t.port))
            .collect()
    }

    /// A running TiKV node.
    pub fn tikv(&self, i: usize) -> Option<&Arc<TikvNode>> {
        self.tikvs.get(i)?.handle.as_ref().map(|h| &h.node)
    }

    /// Index of the current PD leader among running members.
    pub fn pd_leader(&self) -> Option<usize> {
        self.pds
            .iter()
            .position(|p| p.handle.as_ref().is_some_and(|h| h.node.is_leader()))
    }

    /// PD log lines of member `i` (kept across restarts).
    pub fn pd_logs(&self, i: usize) -> Vec<String> {
        match &self.pds[i].log {
            LogSink::Memory(m) => m.lock().iter().cloned().collect(),
            _ => vec![],
        }
    }

    /// TiKV log lines of store `i` (kept across kills and restarts, like a container's
    /// log outliving its process).
    pub(crate) fn tikv_logs(&self, i: usize) -> Vec<String> {
        match &self.tikvs[i].cfg.log {
            LogSink::Memory(m) => m.lock().iter().cloned().collect(),
            _ => vec![],
        }
    }

    /// Number of TiKV slots (running or killed).
    pub(crate) fn tikv_count(&self) -> usize {
        self.tikvs.len()
    }

    /// Number of PD slots (running or killed).
    pub(crate) fn pd_count(&self) -> usize {
        self.pds.len()
    }

    /// Whether TiKV `i` runs (not killed).
    pub(crate) fn tikv_running(&self, i: usize) -> bool {
        self.tikvs.get(i).is_some_and(|t| t.handle.is_some())
    }

    /// Whether PD member `i` runs (not killed).
    pub(crate) fn pd_running(&self, i: usize) -> bool {
        self.pds.get(i).is_some_and(|p| p.handle.is_some())
    }

    /// Kills TiKV `i` (its sockets close; data dir stays).
    pub fn kill_tikv(&mut self, i: usize) {
        if let Some(mut h) = self.tikvs[i].handle.take() {
            h.kill();
        }
    }

    /// Pauses TiKV `i` (no heartbeats; status requests hang).
    pub fn pause_tikv(&self, i: usize) {
        if let Some(n) = self.tikv(i) {
            n.set_paused(true);
        }
    }

    /// Resumes a paused TiKV.
    pub fn resume_tikv(&self, i: usize) {
        if let Some(n) = self.tikv(i) {
            n.set_paused(false);
        }
    }

    /// Cuts TiKV `i` off from PD: its heartbeats fail as if the network dropped them.
    pub fn partition_tikv(&self, i: usize) {
        if let Some(n) = self.tikv(i) {
            n.set_partitioned(true);
        }
    }

    /// Heals a partition made by [`Self::partition_tikv`].
    pub fn heal_tikv(&self, i: usize) {
        if let Some(n) = self.tikv(i) {
            n.set_partitioned(false);
        }
    }

    /// Restarts TiKV `i` on the same ports and data dir.
    pub async fn restart_tikv(&mut self, i: usize) -> Result<(), SimError> {
        self.kill_tikv(i);
        let slot = &mut self.tikvs[i];
        let gl = bind_port(slot.port).await?;
        let sl = bind_port(slot.status_port).await?;
        let h = start_tikv(slot.cfg.clone(), Some((gl, sl)), self.cancel.child_token()).await?;
        slot.handle = Some(h);
        Ok(())
    }

    /// Kills PD member `i`.
    pub fn kill_pd(&mut self, i: usize) {
        if let Some(mut h) = self.pds[i].handle.take() {
            h.kill();
        }
    }

    /// Restarts PD member `i` on the same ports and data dir.
    pub async fn restart_pd(&mut self, i: usize) -> Result<(), SimError> {
        self.kill_pd(i);
        let slot = &mut self.pds[i];
        let cl = bind_port(slot.client_port).await?;
        let pl = bind_port(slot.peer_port).await?;
        let h = start_pd(slot.cfg.clone(), Some((cl, pl)), self.cancel.child_token()).await?;
        slot.handle = Some(h);
        Ok(())
    }

    /// Waits until a PD leader exists and `stores` stores are registered.
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> Result<(), SimError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let registered = self
                .tikvs
                .iter()
                .filter(|t| t.handle.as_ref().is_some_and(|h| h.node.store_id() != 0))
                .count();
            if self.pd_leader().is_some() && registered == self.tikvs.len() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(SimError::Timeout("cluster ready".into()));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Stops everything and removes the temp dir it created.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for p in self.pds.iter_mut() {
            if let Some(h) = p.handle.take() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), h.join()).await;
            }
        }
        for t in self.tikvs.iter_mut() {
            if let Some(h) = t.handle.take() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), h.join()).await;
            }
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for InProcessCluster {
    fn drop(&mut self) {
        self.cancel.cancel();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
