//! TiKV runbooks: each recommended action as the PD API call, `docker` command or spec
//! edit a person copies, the check that shows it worked, and its risk (see
//! [`crate::diagnose::runbook`]). The PD calls are the ones of the PD/TiKV reference
//! (`/pd/api/v1/schedulers`, `/operators`, `/store/{id}/state`, `/config`); the PD URL is
//! the endpoint the operator itself reached (PD's view in the context), the container
//! the one the snapshot names for the member.

use serde_json::Value;

use super::actions::TikvAction;
use crate::diagnose::model::{ActionKind, ContextSection, TicketBrief};
use crate::diagnose::runbook::{Runbook, RunbookSource};

/// Runbooks for a TiKV cluster.
#[derive(Debug, Clone, Default)]
pub(crate) struct TikvRunbooks {
    /// The cluster's name (container names are `<cluster>-<member>`), when known.
    pub cluster: Option<String>,
}

fn section(facts: &[ContextSection], name: &str) -> Option<Value> {
    facts
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| serde_json::from_str(&s.content).ok())
}

/// PD's URL as the operator reached it.
fn pd_url(brief: &TicketBrief, facts: &[ContextSection]) -> String {
    brief
        .evidence
        .pointer("/state/endpoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            section(facts, "pd_state").and_then(|p| {
                p.get("endpoint")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        })
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "${PD_URL:?set PD_URL to a PD client URL}".to_string())
}

impl TikvRunbooks {
    fn container(&self, member: &str, facts: &[ContextSection]) -> String {
        let known = section(facts, "containers").and_then(|cs| {
            cs.as_array()?.iter().find_map(|c| {
                (c.get("member").and_then(Value::as_str) == Some(member))
                    .then(|| {
                        c.get("container")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .flatten()
            })
        });
        known.unwrap_or_else(|| match &self.cluster {
            Some(c) if !member.starts_with(&format!("{c}-")) => format!("{c}-{member}"),
            _ => member.to_string(),
        })
    }
}

fn post(pd: &str, path: &str, body: &str) -> String {
    format!(
        "curl -sS -X POST '{pd}/pd/api/v1/{path}' -H 'Content-Type: application/json' -d '{body}'"
    )
}

fn get(pd: &str, path: &str) -> String {
    format!("curl -sS '{pd}/pd/api/v1/{path}'")
}

impl RunbookSource for TikvRunbooks {
    fn runbook(
        &self,
        action: &ActionKind,
        brief: &TicketBrief,
        facts: &[ContextSection],
    ) -> Option<Runbook> {
        let pd = pd_url(brief, facts);
        let rb = |commands: Vec<String>, check: String, risk: &str| Runbook {
            commands,
            check,
            risk: risk.to_string(),
        };
        let typed = action.typed::<TikvAction>()?;
        Some(match &typed {
            TikvAction::TransferLeader { region_id, to_store } => rb(
                vec![post(&pd, "operators", &format!(r#"{{"name":"transfer-leader","region_id":{region_id},"to_store_id":{to_store}}}"#))],
                format!("{} shows leader.store_id {to_store}", get(&pd, &format!("region/id/{region_id}"))),
                "a short leader election on the region; its requests retry for a moment, and PD's balancer may move the leader back if the store is busier",
            ),
            TikvAction::SplitRegion { region_id } => rb(
                vec![post(&pd, "operators", &format!(r#"{{"name":"split-region","region_id":{region_id},"policy":"approximate"}}"#))],
                format!("{} no longer lists region {region_id} alone at the top; its halves have new ids", get(&pd, "hotspot/regions/write")),
                "more regions to heartbeat; the halves stay on the same store until PD's hot-region scheduler moves one",
            ),
            TikvAction::EvictLeader { store_id } => rb(
                vec![post(&pd, "schedulers", &format!(r#"{{"name":"evict-leader-scheduler","store_id":{store_id}}}"#))],
                format!("{} shows status.leader_count falling to 0; afterwards remove it with curl -sS -X DELETE '{pd}/pd/api/v1/schedulers/evict-leader-scheduler-{store_id}'", get(&pd, &format!("store/{store_id}"))),
                "the other stores take its leaders' load; left in place it becomes a leftover scheduler",
            ),
            TikvAction::RemoveEvictLeader { store_id } => rb(
                vec![format!("curl -sS -X DELETE '{pd}/pd/api/v1/schedulers/evict-leader-scheduler-{store_id}'")],
                format!("{} no longer lists evict-leader-scheduler for store {store_id}, and {} shows status.leader_count rising", get(&pd, "scheduler-config/evict-leader-scheduler/list"), get(&pd, &format!("store/{store_id}"))),
                "leaders move back onto the store: do it only once its maintenance is over",
            ),
            TikvAction::ScaleOut { component, count } => rb(
                vec![
                    format!("edit cluster.yaml: raise spec.{component}.replicas by {count}"),
                    "operator apply -f cluster.yaml".to_string(),
                ],
                format!("operator status shows {count} more {component} member(s) Up, and {} lists the new store(s) Up", get(&pd, "stores")),
                "PD rebalances regions onto the new store(s): extra disk and network traffic for a while",
            ),
            TikvAction::RestartContainer { member } => {
                let c = self.container(member, facts);
                rb(
                    vec![format!("docker start {c}")],
                    format!("docker inspect -f '{{{{.State.Status}}}} {{{{.State.OOMKilled}}}}' {c} prints 'running false', and {} shows the member healthy again", if member.starts_with("pd") { get(&pd, "health") } else { get(&pd, "stores") }),
                    "if it stops again (an OOM or crash loop), restarting hides the cause: read docker logs first",
                )
            }
            TikvAction::CancelStoreDelete { store_id } => rb(
                vec![format!("curl -sS -X POST '{pd}/pd/api/v1/store/{store_id}/state?state=Up'")],
                format!("{} shows state_name Up", get(&pd, &format!("store/{store_id}"))),
                "the store stays in the cluster; scale out before deleting it again",
            ),
            TikvAction::AddScheduler { name } => rb(
                vec![post(&pd, "schedulers", &format!(r#"{{"name":"{name}"}}"#))],
                format!("{} lists {name}", get(&pd, "schedulers")),
                "PD starts moving leaders or regions: some scheduling traffic until balanced",
            ),
            TikvAction::RemoveScheduler { name } => rb(
                vec![format!("curl -sS -X DELETE '{pd}/pd/api/v1/schedulers/{name}'")],
                format!("{} no longer lists {name}", get(&pd, "schedulers")),
                "PD stops balancing along that dimension until it is added back",
            ),
            TikvAction::SetStoreWeight { store_id, leader, region } => rb(
                vec![post(&pd, &format!("store/{store_id}/weight"), &format!(r#"{{"leader":{leader},"region":{region}}}"#))],
                format!("{} shows status.region_weight {region} and, over the next minutes, status.region_count and used_size falling", get(&pd, &format!("store/{store_id}"))),
                "PD moves regions off the store onto its peers: extra disk and network traffic, and the peers' usage rises; set it back to 1 once the cause is fixed",
            ),
            TikvAction::SetConfig { key, value } => rb(
                vec![post(&pd, "config", &format!(r#"{{"{key}":"{value}"}}"#))],
                format!("{} shows {key} = {value}", get(&pd, "config")),
                "a cluster-wide setting: it applies to every store at once",
            ),
            TikvAction::WaitAndWatch { .. } | TikvAction::InvestigateFurther { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::scenarios;

    #[test]
    fn an_evict_leader_runbook_is_a_pd_api_call_on_the_endpoint_the_operator_used() {
        let b = scenarios::slow_disk();
        let r = TikvRunbooks::default()
            .runbook(&TikvAction::EvictLeader { store_id: 5 }.into(), &b, &[])
            .unwrap();
        assert_eq!(
            r.commands,
            vec![
                r#"curl -sS -X POST 'http://pd-0:2379/pd/api/v1/schedulers' -H 'Content-Type: application/json' -d '{"name":"evict-leader-scheduler","store_id":5}'"#
            ]
        );
        assert!(r.check.contains("/pd/api/v1/store/5"), "{}", r.check);
        assert!(!r.risk.is_empty());
    }

    #[test]
    fn a_restart_names_the_container_of_the_member() {
        let b = scenarios::node_death();
        let facts = vec![ContextSection {
            name: "containers".into(),
            relevance: 80,
            content: r#"[{"member":"tikv-1","container":"demo-tikv-1","component":"tikv","status":"exited"}]"#.into(),
        }];
        let r = TikvRunbooks::default()
            .runbook(
                &TikvAction::RestartContainer {
                    member: "tikv-1".into(),
                }
                .into(),
                &b,
                &facts,
            )
            .unwrap();
        assert_eq!(r.commands, vec!["docker start demo-tikv-1"]);
        let r = TikvRunbooks {
            cluster: Some("prod".into()),
        }
        .runbook(
            &TikvAction::RestartContainer {
                member: "tikv-1".into(),
            }
            .into(),
            &b,
            &[],
        )
        .unwrap();
        assert_eq!(r.commands, vec!["docker start prod-tikv-1"]);
    }

    #[test]
    fn waiting_and_looking_have_no_runbook() {
        let b = scenarios::node_death();
        assert!(TikvRunbooks::default()
            .runbook(&TikvAction::WaitAndWatch { minutes: 5 }.into(), &b, &[])
            .is_none());
    }
}
