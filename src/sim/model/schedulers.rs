//! Schedulers (`/schedulers`): which run, adding and removing them, and whether one is
//! active now.

use super::*;

/// Schedulers PD runs (names as `/schedulers` shows them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedulers {
    /// Enabled scheduler names, in creation order.
    pub names: Vec<String>,
    /// evict-leader-scheduler stores.
    pub evict_leader: BTreeSet<u64>,
    /// grant-leader-scheduler stores.
    pub grant_leader: BTreeSet<u64>,
    /// Paused schedulers and when they resume (unix ms).
    pub paused_until: BTreeMap<String, u64>,
}

impl Default for Schedulers {
    fn default() -> Self {
        Self {
            names: vec![
                "balance-hot-region-scheduler".into(),
                "balance-leader-scheduler".into(),
                "balance-region-scheduler".into(),
                "evict-slow-store-scheduler".into(),
                "evict-stopping-store-scheduler".into(),
            ],
            evict_leader: BTreeSet::new(),
            grant_leader: BTreeSet::new(),
            paused_until: BTreeMap::new(),
        }
    }
}

impl ClusterModel {
    /// `POST /schedulers` for evict-leader / grant-leader. Returns true when the
    /// scheduler was newly created.
    pub(crate) fn add_store_scheduler(
        &mut self,
        name: &str,
        store: u64,
    ) -> Result<bool, ModelError> {
        if !self.stores.contains_key(&store) {
            return Err(ModelError::StoreNotFound(store));
        }
        let set = if name == "evict-leader-scheduler" {
            &mut self.schedulers.evict_leader
        } else {
            &mut self.schedulers.grant_leader
        };
        set.insert(store);
        let created = !self.schedulers.names.iter().any(|n| n == name);
        if created {
            self.schedulers.names.push(name.to_string());
        }
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(created)
    }

    /// `POST /schedulers` for store-less schedulers.
    pub(crate) fn add_scheduler(&mut self, name: &str) -> Result<bool, ModelError> {
        const KNOWN: [&str; 9] = [
            "balance-leader-scheduler",
            "balance-region-scheduler",
            "balance-hot-region-scheduler",
            "evict-slow-store-scheduler",
            "evict-stopping-store-scheduler",
            "shuffle-leader-scheduler",
            "shuffle-region-scheduler",
            "shuffle-hot-region-scheduler",
            "random-merge-scheduler",
        ];
        if !KNOWN.contains(&name) {
            return Err(ModelError::BadRequest("unknown scheduler".into()));
        }
        if self.schedulers.names.iter().any(|n| n == name) {
            return Err(ModelError::Operator(format!(
                "[PD:scheduler:ErrSchedulerExisted]scheduler {name} existed"
            )));
        }
        self.schedulers.names.push(name.to_string());
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(true)
    }

    /// `DELETE /schedulers/{name}` (also `evict-leader-scheduler-<id>`).
    pub(crate) fn remove_scheduler(&mut self, name: &str) -> Result<(), ModelError> {
        for base in ["evict-leader-scheduler", "grant-leader-scheduler"] {
            if let Some(rest) = name.strip_prefix(&format!("{base}-")) {
                let id: u64 = rest.parse().map_err(|_| ModelError::SchedulerNotFound)?;
                let set = if base == "evict-leader-scheduler" {
                    &mut self.schedulers.evict_leader
                } else {
                    &mut self.schedulers.grant_leader
                };
                if !set.remove(&id) {
                    return Err(ModelError::SchedulerNotFound);
                }
                if set.is_empty() {
                    self.schedulers.names.retain(|n| n != base);
                }
                self.sync_schedulers_v2();
                self.revision += 1;
                return Ok(());
            }
        }
        let before = self.schedulers.names.len();
        self.schedulers.names.retain(|n| n != name);
        if before == self.schedulers.names.len() {
            return Err(ModelError::SchedulerNotFound);
        }
        if name == "evict-leader-scheduler" {
            self.schedulers.evict_leader.clear();
        }
        if name == "grant-leader-scheduler" {
            self.schedulers.grant_leader.clear();
        }
        self.sync_schedulers_v2();
        self.revision += 1;
        Ok(())
    }

    pub(super) fn sync_schedulers_v2(&mut self) {
        let mut v = Vec::new();
        for n in &self.schedulers.names {
            let kind = n
                .trim_end_matches("-scheduler")
                .replace("balance-hot-region", "hot-region");
            let args = match n.as_str() {
                "evict-leader-scheduler" => Some(
                    self.schedulers
                        .evict_leader
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                "grant-leader-scheduler" => Some(
                    self.schedulers
                        .grant_leader
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                _ => None,
            };
            v.push(SchedulerEntry {
                kind,
                args,
                disable: false,
                args_payload: String::new(),
            });
        }
        self.schedule.schedulers_v2 = v;
    }

    pub(super) fn scheduler_active(&self, name: &str, now_ms: u64) -> bool {
        self.schedulers.names.iter().any(|n| n == name)
            && self
                .schedulers
                .paused_until
                .get(name)
                .is_none_or(|until| now_ms >= *until)
    }
}
