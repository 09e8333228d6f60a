//! The production [`PdApi`]: PD's HTTP API through the tower-based [`PdClient`].

use super::model::PdView;
use super::pd::{DeleteStoreOutcome, PdClient, StoreStateTarget};
use super::subject::PdApi;
use crate::http::HttpConfig;

/// [`PdApi`] over [`PdClient`]. Construction errors (a malformed endpoint) surface on
/// the first call rather than at construction, so a factory never fails.
pub struct PdAdapter {
    client: Result<PdClient, String>,
}

impl PdAdapter {
    /// A PD client for `endpoints`, tuned for a controller: PD that has no leader or
    /// does not answer is reported quickly (the loop observes again within a second),
    /// instead of being retried for the stack's default 30 s. Bodies keep the stack's
    /// 64 MiB limit: PD's region lists grow with the cluster (some 500 bytes per region,
    /// so 64 MiB is above 100 000 regions), and nothing larger is buffered.
    pub fn new(endpoints: Vec<String>) -> Self {
        let config = HttpConfig {
            per_attempt_timeout: std::time::Duration::from_secs(2),
            overall_deadline: std::time::Duration::from_secs(3),
            connect_timeout: std::time::Duration::from_millis(500),
            max_retries: 1,
            ..HttpConfig::default()
        };
        Self {
            client: PdClient::new(&endpoints, config).map_err(|e| e.to_string()),
        }
    }

    fn client(&self) -> Result<&PdClient, String> {
        self.client.as_ref().map_err(Clone::clone)
    }
}

#[async_trait::async_trait]
impl PdApi for PdAdapter {
    async fn observe(&self) -> Result<PdView, String> {
        self.client()?.observe().await.map_err(|e| e.to_string())
    }

    async fn delete_store(&self, id: u64) -> Result<(), String> {
        match self
            .client()?
            .delete_store(id)
            .await
            .map_err(|e| e.to_string())?
        {
            DeleteStoreOutcome::Offline | DeleteStoreOutcome::AlreadyTombstone => Ok(()),
            DeleteStoreOutcome::StoresNotEnough { message } => {
                Err(format!("PD refused to delete store {id}: {message}"))
            }
            DeleteStoreOutcome::NotFound => Err(format!("PD does not know store {id}")),
        }
    }

    async fn set_store_up(&self, id: u64) -> Result<(), String> {
        self.client()?
            .set_store_state(id, StoreStateTarget::Up)
            .await
            .map_err(|e| e.to_string())
    }

    async fn add_evict_leader(&self, id: u64) -> Result<(), String> {
        self.client()?
            .add_evict_leader(id)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove_evict_leader(&self, id: u64) -> Result<(), String> {
        self.client()?
            .remove_evict_leader(id)
            .await
            .map_err(|e| e.to_string())
    }

    async fn delete_member(&self, name: &str) -> Result<(), String> {
        self.client()?
            .delete_member(name)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn transfer_leader(&self, name: &str) -> Result<(), String> {
        self.client()?
            .transfer_leader(name)
            .await
            .map_err(|e| e.to_string())
    }
}
