//! Incidents: tickets that share a cause, grouped.
//!
//! # Why
//!
//! One fault opens several tickets: a dead store is down, its regions miss a peer, the
//! leaders that left it skew the others; three stores cut off from PD at once are three
//! store-down tickets. Diagnosed one by one they read as three problems. An incident is
//! the set of tickets one cause explains, with the reasons they were grouped ("grouped
//! because …"); independent faults stay separate incidents.
//!
//! # How
//!
//! Pure, over ticket facts, computed when read (tickets keep their own lifecycle; an
//! incident is a view, so it never disagrees with its tickets). Two tickets first seen
//! within the window are linked when
//!
//! - their diagnoses name the same cause (category and target), or
//! - they are about the same target, or
//! - the subject supplies a causal link between them ([`CausalLinks`]: a dead store
//!   explains its down-peer regions, a PD leader loss explains a short PD
//!   unavailability, …);
//!
//! and incidents are the connected groups. The incident's id is its first ticket's id;
//! its cause is the cause most of its diagnosed tickets name.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::model::{rfc3339, Status, Ticket};
use crate::diagnose::catalog::Cause;

/// How close in time two tickets must start to be grouped.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// What grouping reads of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentTicket {
    /// Ticket id.
    pub id: u64,
    /// Invariant.
    pub invariant: String,
    /// Target.
    pub target: String,
    /// Lifecycle status.
    pub status: Status,
    /// First seen.
    #[serde(with = "rfc3339")]
    pub first_seen: SystemTime,
    /// The diagnosed root cause, when diagnosed and known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The cause a person confirmed on resolving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_cause: Option<Cause>,
}

impl IncidentTicket {
    /// The facts of `t`.
    pub(crate) fn of(t: &Ticket) -> Self {
        let cause = t
            .diagnosis
            .as_ref()
            .and_then(|d| d.get("cause"))
            .and_then(|c| serde_json::from_value::<Cause>(c.clone()).ok())
            .filter(Cause::is_known);
        Self {
            id: t.id,
            invariant: t.invariant.clone(),
            target: t.target.clone(),
            status: t.status,
            first_seen: t.first_seen,
            cause,
            confirmed_cause: t.confirmed_cause.clone(),
        }
    }
}

/// Causal links a subject knows between its tickets.
pub trait CausalLinks: Send + Sync {
    /// Why `a` and `b` share a cause, if they do.
    fn link(&self, a: &IncidentTicket, b: &IncidentTicket) -> Option<String>;
}

/// No subject knowledge: time, target and diagnosed cause only.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoLinks;

impl CausalLinks for NoLinks {
    fn link(&self, _a: &IncidentTicket, _b: &IncidentTicket) -> Option<String> {
        None
    }
}

/// A group of tickets with one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The id of its first ticket.
    pub id: u64,
    /// Its tickets, by id.
    pub tickets: Vec<u64>,
    /// Resolved when every ticket is resolved, else open.
    pub status: Status,
    /// When its first ticket was first seen.
    #[serde(with = "rfc3339")]
    pub first_seen: SystemTime,
    /// The cause most of its diagnosed tickets name (a confirmed cause wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Whether `cause` was confirmed by a person.
    #[serde(default)]
    pub confirmed: bool,
    /// Other causes its tickets name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_causes: Vec<Cause>,
    /// Why its tickets were grouped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grouped_because: Vec<String>,
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while parent[r] != r {
        r = parent[r];
    }
    let mut i = i;
    while parent[i] != r {
        let n = parent[i];
        parent[i] = r;
        i = n;
    }
    r
}

fn why(a: &IncidentTicket, b: &IncidentTicket, links: &dyn CausalLinks) -> Option<String> {
    let cause = |t: &IncidentTicket| t.confirmed_cause.clone().or(t.cause.clone());
    if let (Some(x), Some(y)) = (cause(a), cause(b)) {
        if x == y {
            return Some(format!("both are diagnosed as {x}"));
        }
    }
    if a.target == b.target {
        return Some(format!("both are about {}", a.target));
    }
    links.link(a, b)
}

/// Groups tickets into incidents.
///
/// # Guarantees
/// Every ticket is in exactly one incident; incidents are ordered by id; two tickets
/// share an incident only through a chain of links, each between tickets first seen
/// within `window` of each other, each explained in `grouped_because`.
pub(crate) fn group(
    tickets: &[IncidentTicket],
    links: &dyn CausalLinks,
    window: Duration,
) -> Vec<Incident> {
    let mut ts: Vec<&IncidentTicket> = tickets.iter().collect();
    ts.sort_by_key(|t| t.id);
    let mut parent: Vec<usize> = (0..ts.len()).collect();
    let mut reasons: Vec<(usize, usize, String)> = vec![];
    for i in 0..ts.len() {
        for j in i + 1..ts.len() {
            let gap = match ts[i].first_seen.duration_since(ts[j].first_seen) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            if gap > window {
                continue;
            }
            if let Some(r) = why(ts[i], ts[j], links) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[b.max(a)] = a.min(b);
                    reasons.push((i, j, r));
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..ts.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups
        .into_values()
        .map(|members| {
            let root = find(&mut parent, members[0]);
            let mut counts: BTreeMap<&Cause, (usize, usize)> = BTreeMap::new();
            let confirmed: Option<Cause> =
                members.iter().find_map(|i| ts[*i].confirmed_cause.clone());
            for (rank, i) in members.iter().enumerate() {
                if let Some(c) = &ts[*i].cause {
                    let e = counts.entry(c).or_insert((0, rank));
                    e.0 += 1;
                }
            }
            let mut ranked: Vec<(&Cause, (usize, usize))> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
            let cause = confirmed.clone().or(ranked.first().map(|c| c.0.clone()));
            let other_causes = ranked
                .iter()
                .map(|c| c.0.clone())
                .filter(|c| Some(c) != cause.as_ref())
                .collect();
            let grouped_because = reasons
                .iter()
                .filter(|(i, _, _)| find(&mut parent.clone(), *i) == root)
                .map(|(i, j, r)| format!("tickets {} and {}: {r}", ts[*i].id, ts[*j].id))
                .collect();
            Incident {
                id: ts[members[0]].id,
                tickets: members.iter().map(|i| ts[*i].id).collect(),
                status: if members.iter().all(|i| ts[*i].status == Status::Resolved) {
                    Status::Resolved
                } else {
                    Status::Open
                },
                first_seen: members
                    .iter()
                    .map(|i| ts[*i].first_seen)
                    .min()
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                confirmed: confirmed.is_some(),
                cause,
                other_causes,
                grouped_because,
            }
        })
        .collect()
}

/// The incident a ticket belongs to.
pub(crate) fn incident_of(incidents: &[Incident], ticket: u64) -> Option<&Incident> {
    incidents.iter().find(|i| i.tickets.contains(&ticket))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        id: u64,
        invariant: &str,
        target: &str,
        at: u64,
        cause: Option<(&str, &str)>,
    ) -> IncidentTicket {
        IncidentTicket {
            id,
            invariant: invariant.into(),
            target: target.into(),
            status: Status::Diagnosed,
            first_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(at),
            cause: cause.map(|(c, t)| Cause::new(c, t)),
            confirmed_cause: None,
        }
    }

    struct DownExplainsRegions;
    impl CausalLinks for DownExplainsRegions {
        fn link(&self, a: &IncidentTicket, b: &IncidentTicket) -> Option<String> {
            let pair = [a.invariant.as_str(), b.invariant.as_str()];
            (pair.contains(&"store_down") && pair.contains(&"regions_down_peer"))
                .then(|| "a down store explains regions with down peers".to_string())
        }
    }

    #[test]
    fn tickets_with_the_same_cause_or_a_causal_link_are_one_incident_and_say_why() {
        let ts = vec![
            t(
                1,
                "store_down",
                "tikv-1",
                100,
                Some(("process-exit", "store/4")),
            ),
            t(2, "regions_down_peer", "cluster", 110, None),
            t(
                3,
                "store_down",
                "tikv-2",
                101,
                Some(("process-exit", "store/4")),
            ),
        ];
        let inc = group(&ts, &DownExplainsRegions, DEFAULT_WINDOW);
        assert_eq!(inc.len(), 1);
        assert_eq!(inc[0].tickets, vec![1, 2, 3]);
        assert_eq!(inc[0].cause, Some(Cause::new("process-exit", "store/4")));
        assert_eq!(
            inc[0].grouped_because.len(),
            2,
            "{:?}",
            inc[0].grouped_because
        );
        assert!(inc[0]
            .grouped_because
            .iter()
            .any(|r| r.contains("down store explains")));
    }

    #[test]
    fn independent_faults_and_distant_times_stay_separate_incidents() {
        let ts = vec![
            t(
                1,
                "store_down",
                "tikv-1",
                100,
                Some(("process-exit", "store/4")),
            ),
            t(
                2,
                "hot_store",
                "tikv-2",
                105,
                Some(("hot-region", "store/5")),
            ),
            t(
                3,
                "store_down",
                "tikv-1",
                5000,
                Some(("process-exit", "store/4")),
            ),
        ];
        let inc = group(&ts, &NoLinks, DEFAULT_WINDOW);
        assert_eq!(
            inc.iter().map(|i| i.tickets.clone()).collect::<Vec<_>>(),
            vec![vec![1], vec![2], vec![3]]
        );
        assert_eq!(incident_of(&inc, 2).map(|i| i.id), Some(2));
    }

    #[test]
    fn a_confirmed_cause_wins_and_an_incident_is_resolved_when_all_its_tickets_are() {
        let mut ts = vec![
            t(
                1,
                "store_down",
                "tikv-1",
                100,
                Some(("network-partition", "store/4")),
            ),
            t(2, "store_down", "tikv-1", 102, None),
        ];
        ts[1].confirmed_cause = Some(Cause::new("process-exit", "store/4"));
        ts[0].status = Status::Resolved;
        let inc = group(&ts, &NoLinks, DEFAULT_WINDOW);
        assert_eq!(inc[0].cause, Some(Cause::new("process-exit", "store/4")));
        assert!(inc[0].confirmed);
        assert_eq!(inc[0].status, Status::Open);
        ts[1].status = Status::Resolved;
        assert_eq!(
            group(&ts, &NoLinks, DEFAULT_WINDOW)[0].status,
            Status::Resolved
        );
    }
}
