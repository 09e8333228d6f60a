//! The etcd client: `/health`, `/metrics` and the v3 JSON gateway, through the
//! project's tower stack ([`crate::http`]).
//!
//! One client serves every member; each call names the member's base URL, because etcd
//! answers most questions per member (status, health, metrics) and the operator wants
//! every member's own view, not a load-balanced one. The gateway's calls are `POST`s;
//! the stack retries them only on connect errors (the request was never sent), so a
//! member add or remove is never sent twice by the transport.

use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::wire::{
    AlarmResponse, HealthResponse, Member, MemberAddResponse, MemberListResponse, StatusResponse,
    VersionResponse,
};
use crate::http::{DefaultRetryLogic, HttpClient, HttpConfig, HttpError, MIB};

/// Errors of the etcd client.
#[derive(Debug, thiserror::Error)]
pub enum EtcdClientError {
    /// The HTTP exchange failed (connect, timeout, status, decode).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The base URL is not a URL.
    #[error("invalid etcd endpoint {0:?}")]
    Endpoint(String),
}

/// A client for etcd members.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    http: HttpClient,
}

/// The per-attempt timeout: etcd's own quorum read in `/health` gives up after 1 s.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

impl EtcdClient {
    /// A client with short deadlines (observation must not stall the loop on a member
    /// that does not answer). Must be called inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`EtcdClientError::Http`] when the stack cannot be built.
    pub fn new() -> Result<Self, EtcdClientError> {
        let config = HttpConfig {
            per_attempt_timeout: ATTEMPT_TIMEOUT,
            overall_deadline: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(1),
            max_retries: 1,
            max_body_bytes: 16 * MIB,
            ..HttpConfig::default()
        };
        Ok(Self {
            http: HttpClient::new(config, DefaultRetryLogic)?,
        })
    }

    fn url(base: &str, path: &str) -> Result<reqwest::Url, EtcdClientError> {
        crate::http::parse_base_url(base)
            .and_then(|u| {
                u.join(path).map_err(|e| HttpError::InvalidUrl {
                    url: base.to_string(),
                    reason: e.to_string(),
                })
            })
            .map_err(|_| EtcdClientError::Endpoint(base.to_string()))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, EtcdClientError> {
        let url = Self::url(base, path)?;
        Ok(self
            .http
            .send(self.http.request(Method::POST, url).json(&body))
            .await?
            .error_for_status()?
            .json()?)
    }

    /// `GET /health`. A 503 (unhealthy) still answers with a body, so it is decoded.
    ///
    /// # Errors
    ///
    /// Transport errors and undecodable bodies.
    pub async fn health(&self, base: &str) -> Result<HealthResponse, EtcdClientError> {
        let url = Self::url(base, "/health")?;
        let r = self.http.send(self.http.request(Method::GET, url)).await?;
        if r.status.as_u16() == 503 || r.status.is_success() {
            return Ok(r.json()?);
        }
        Err(r.error_for_status().err().map_or_else(
            || EtcdClientError::Endpoint(base.to_string()),
            EtcdClientError::Http,
        ))
    }

    /// `GET /metrics`, as text.
    ///
    /// # Errors
    ///
    /// Transport errors and non-2xx answers.
    pub async fn metrics(&self, base: &str) -> Result<String, EtcdClientError> {
        let url = Self::url(base, "/metrics")?;
        let r = self
            .http
            .send(self.http.request(Method::GET, url))
            .await?
            .error_for_status()?;
        Ok(r.text_lossy().into_owned())
    }

    /// `GET /version`: the member's server version and the cluster version it knows.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::metrics`], plus decode errors.
    pub async fn version(&self, base: &str) -> Result<VersionResponse, EtcdClientError> {
        let url = Self::url(base, "/version")?;
        Ok(self
            .http
            .send(self.http.request(Method::GET, url))
            .await?
            .error_for_status()?
            .json()?)
    }

    /// `maintenance/status` of one member.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::metrics`], plus decode errors.
    pub async fn status(&self, base: &str) -> Result<StatusResponse, EtcdClientError> {
        self.post(base, "/v3/maintenance/status", json!({})).await
    }

    /// `cluster/member/list` (linearizable: needs a leader).
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn member_list(&self, base: &str) -> Result<MemberListResponse, EtcdClientError> {
        self.post(base, "/v3/cluster/member/list", json!({})).await
    }

    /// Active alarms.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn alarms(&self, base: &str) -> Result<AlarmResponse, EtcdClientError> {
        self.post(base, "/v3/maintenance/alarm", json!({"action": "GET"}))
            .await
    }

    /// `cluster/member/add`: announces a voting member by its peer URL (before its
    /// container starts, as etcd's runtime-reconfiguration guide orders).
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`]; etcd refuses an add that would make an unhealthy
    /// cluster lose quorum (`etcdserver: unhealthy cluster`).
    pub async fn member_add(&self, base: &str, peer_url: &str) -> Result<Member, EtcdClientError> {
        let r: MemberAddResponse = self
            .post(
                base,
                "/v3/cluster/member/add",
                json!({"peerURLs": [peer_url]}),
            )
            .await?;
        Ok(r.member)
    }

    /// `cluster/member/remove`.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn member_remove(&self, base: &str, id: u64) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(
                base,
                "/v3/cluster/member/remove",
                json!({"ID": id.to_string()}),
            )
            .await?;
        Ok(())
    }

    /// `maintenance/transfer-leadership`; must be sent to the leader.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn move_leader(&self, leader_base: &str, to: u64) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(
                leader_base,
                "/v3/maintenance/transfer-leadership",
                json!({"targetID": to.to_string()}),
            )
            .await?;
        Ok(())
    }

    /// `kv/put` of raw bytes (the quota-fill chaos knob writes through it).
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`]; past the quota etcd answers
    /// `etcdserver: mvcc: database space exceeded`.
    pub async fn put(&self, base: &str, key: &[u8], value: &[u8]) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(
                base,
                "/v3/kv/put",
                json!({"key": base64(key), "value": base64(value)}),
            )
            .await?;
        Ok(())
    }
}

impl EtcdClient {
    /// Deletes every key under `prefix`; returns the store revision after the delete.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn delete_prefix(&self, base: &str, prefix: &[u8]) -> Result<u64, EtcdClientError> {
        let mut end = prefix.to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let r: super::wire::MemberListResponse = self
            .post(
                base,
                "/v3/kv/deleterange",
                json!({"key": base64(prefix), "range_end": base64(&end)}),
            )
            .await?;
        Ok(r.header.revision)
    }

    /// Compacts the keyspace up to `revision` (physically).
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn compact(&self, base: &str, revision: u64) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(
                base,
                "/v3/kv/compaction",
                json!({"revision": revision.to_string(), "physical": true}),
            )
            .await?;
        Ok(())
    }

    /// Defragments one member's backend.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn defragment(&self, base: &str) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(base, "/v3/maintenance/defragment", json!({}))
            .await?;
        Ok(())
    }

    /// Disarms one alarm of one member.
    ///
    /// # Errors
    ///
    /// As [`EtcdClient::status`].
    pub async fn disarm(
        &self,
        base: &str,
        member: u64,
        alarm: &str,
    ) -> Result<(), EtcdClientError> {
        let _: serde_json::Value = self
            .post(
                base,
                "/v3/maintenance/alarm",
                json!({"action": "DEACTIVATE", "memberID": member.to_string(), "alarm": alarm}),
            )
            .await?;
        Ok(())
    }
}

/// Standard base64 with padding (the gateway's encoding of `bytes` fields).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
