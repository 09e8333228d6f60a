//! Fault knobs of a subject's simulator, reached at a container's IP on the cluster
//! network.
//!
//! A simulator can expose knobs a real process has no equivalent for: a data member's
//! `PUT /sim/v1/faults` (`slow_disk_ms`, `disk_fill_ratio`, `cpu_saturation`; merged into
//! the current knobs) and a placement member's `PUT /sim/v1/workload` (`hot_range`) and
//! `DELETE /sim/v1/workload`. Where they are (which image is the simulator, which ports,
//! which component takes the workload) is the subject's knowledge: it hands a
//! [`SimKnobs`] to [`super::Chaos::with_simulator`] (TiKV's is
//! `subjects/tikv/chaos.rs`); an engine without one treats every target as real.
//! Reverts restore the *previous* value of the one knob an experiment set, so two
//! experiments on one node (slow disk and CPU) do not undo each other.

use std::time::Duration;

use crate::runtime::{labels, ObservedContainer};

use super::ChaosError;

/// Where a subject's simulated members take their fault knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimKnobs {
    /// What the simulator's image name contains (`tikv-sim`).
    pub image: &'static str,
    /// The port of a data member's `/sim/v1/faults`.
    pub faults_port: u16,
    /// The component label of the members that take `/sim/v1/workload` (`pd`).
    pub workload_component: &'static str,
    /// The port of their `/sim/v1/workload`.
    pub workload_port: u16,
}

impl SimKnobs {
    /// The fault knobs of the container at `ip`.
    pub(crate) fn faults_url(&self, ip: &str) -> String {
        format!("http://{ip}:{}/sim/v1/faults", self.faults_port)
    }

    /// The workload knob of the container at `ip`.
    pub(crate) fn workload_url(&self, ip: &str) -> String {
        format!("http://{ip}:{}/sim/v1/workload", self.workload_port)
    }

    /// True when the container runs the simulator's image (by name or image label).
    pub(crate) fn runs_simulator(&self, c: &ObservedContainer) -> bool {
        c.image.contains(self.image)
            || c.label(labels::IMAGE)
                .is_some_and(|i| i.contains(self.image))
    }
}

/// A small HTTP client for the knobs (short timeouts: the targets are on a local
/// bridge network).
#[derive(Debug, Clone)]
pub(crate) struct SimClient {
    http: reqwest::Client,
    probe: reqwest::Client,
}

impl Default for SimClient {
    fn default() -> Self {
        Self::new()
    }
}

fn http_error(url: &str, e: impl std::fmt::Display) -> ChaosError {
    ChaosError::Http {
        url: url.to_string(),
        detail: e.to_string(),
    }
}

impl SimClient {
    /// A client with a 5 s request timeout (1 s for probes).
    pub(crate) fn new() -> Self {
        let build = |timeout: Duration| {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .no_proxy()
                .build()
                .unwrap_or_default()
        };
        Self {
            http: build(Duration::from_secs(5)),
            probe: build(Duration::from_secs(1)),
        }
    }

    /// True when `url` answers `GET` with a JSON object: a simulator is there.
    pub(crate) async fn probe(&self, url: &str) -> bool {
        match self.probe.get(url).send().await {
            Ok(r) if r.status().is_success() => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|v| v.is_object()),
            _ => false,
        }
    }

    /// `GET` a JSON object.
    ///
    /// # Errors
    ///
    /// [`ChaosError::Http`] on transport errors, non-2xx answers or non-JSON bodies.
    pub(crate) async fn get(&self, url: &str) -> Result<serde_json::Value, ChaosError> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| http_error(url, e))?;
        if !r.status().is_success() {
            return Err(http_error(url, format!("status {}", r.status())));
        }
        r.json().await.map_err(|e| http_error(url, e))
    }

    /// `PUT` a JSON body.
    ///
    /// # Errors
    ///
    /// [`ChaosError::Http`] on transport errors or non-2xx answers.
    pub(crate) async fn put(&self, url: &str, body: &serde_json::Value) -> Result<(), ChaosError> {
        let r = self
            .http
            .put(url)
            .json(body)
            .send()
            .await
            .map_err(|e| http_error(url, e))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(http_error(url, format!("status {status}: {}", text.trim())));
        }
        Ok(())
    }

    /// `PUT` for a revert: a refused connection means the simulator process is gone,
    /// and its in-memory knobs with it, so there is nothing left to undo.
    ///
    /// # Errors
    ///
    /// As [`SimClient::put`], except refused connections.
    pub(crate) async fn revert_put(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(), ChaosError> {
        match self.http.put(url).json(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(http_error(url, format!("status {}", r.status()))),
            Err(e) if e.is_connect() && !e.is_timeout() => Ok(()),
            Err(e) => Err(http_error(url, e)),
        }
    }

    /// `DELETE` for a revert (refused connections succeed, as for
    /// [`SimClient::revert_put`]).
    ///
    /// # Errors
    ///
    /// [`ChaosError::Http`] on other failures.
    pub(crate) async fn revert_delete(&self, url: &str) -> Result<(), ChaosError> {
        match self.http.delete(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(http_error(url, format!("status {}", r.status()))),
            Err(e) if e.is_connect() && !e.is_timeout() => Ok(()),
            Err(e) => Err(http_error(url, e)),
        }
    }
}
