//! A ticket queue that also remembers tickets it never held: past tickets with their
//! confirmed causes, handed in from elsewhere (`operator eval --memory`'s second pass
//! remembers the first pass's tickets this way).
//!
//! # Why a wrapper and not tickets in the store
//!
//! The remembered tickets reach the diagnosis through the loop's own memory path,
//! [`TicketQueue::similar`], exactly as the store's resolved tickets do. Writing them
//! into the store instead would let its lifecycle reopen a remembered ticket when the
//! same invariant breaks again on the same target within its reopen window, merging a
//! new ticket into an old one and changing what happens to it. Every other call is the
//! wrapped queue's, untouched.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::context::PastTicket;
use super::model::{Diagnosis, TicketBrief};
use super::reconciler::TicketQueue;

/// How far past the queue's own highest id the remembered ids are shown, so the two
/// never collide in a prompt's history section.
const ID_OFFSET: u64 = 1_000_000;

/// A ticket queue that also remembers `past`: those tickets join the queue's own in
/// [`TicketQueue::similar`]; every other call is the queue's.
pub(crate) struct Remembering {
    queue: Arc<dyn TicketQueue>,
    past: Arc<[PastTicket]>,
}

impl Remembering {
    /// `queue`, remembering `past` when there is something to remember.
    pub(crate) fn wrap(
        queue: Arc<dyn TicketQueue>,
        past: Option<Arc<[PastTicket]>>,
    ) -> Arc<dyn TicketQueue> {
        match past {
            Some(past) if !past.is_empty() => Arc::new(Self { queue, past }),
            _ => queue,
        }
    }
}

#[async_trait]
impl TicketQueue for Remembering {
    async fn next_open(&self, skip: &HashSet<u64>) -> Option<TicketBrief> {
        self.queue.next_open(skip).await
    }
    async fn lease(&self, id: u64, holder: &str, ttl: Duration) -> bool {
        self.queue.lease(id, holder, ttl).await
    }
    async fn complete(&self, id: u64, holder: &str, diagnosis: Diagnosis) -> bool {
        self.queue.complete(id, holder, diagnosis).await
    }
    async fn release(&self, id: u64, holder: &str, reason: &str) {
        self.queue.release(id, holder, reason).await
    }
    async fn similar(&self, brief: &TicketBrief) -> Vec<PastTicket> {
        let mut own = self.queue.similar(brief).await;
        let offset = own.iter().map(|p| p.id).max().unwrap_or(0) + ID_OFFSET;
        own.extend(self.past.iter().cloned().map(|mut p| {
            p.id += offset;
            p
        }));
        own
    }
    async fn next_revisit(&self, skip: &HashSet<u64>) -> Option<(TicketBrief, String)> {
        self.queue.next_revisit(skip).await
    }
    async fn revisit(&self, id: u64, holder: &str, ttl: Duration, reason: &str) -> bool {
        self.queue.revisit(id, holder, ttl, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::catalog::Cause;
    use crate::diagnose::reconciler::MemoryQueue;

    fn past(id: u64, cause: Option<Cause>) -> PastTicket {
        PastTicket {
            id,
            invariant: "store_down".into(),
            target: "store/4".into(),
            summary: "store 4 is down".into(),
            root_cause: "the process exited".into(),
            action: "restart-store".into(),
            confirmed_cause: cause,
        }
    }

    fn brief() -> TicketBrief {
        TicketBrief {
            id: 99,
            subject: "tikv".into(),
            invariant: "store_down".into(),
            target: "store/4".into(),
            severity: "critical".into(),
            summary: String::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            occurrences: 1,
            evidence: serde_json::json!({}),
            timeline: vec![],
        }
    }

    #[tokio::test]
    async fn the_remembered_tickets_join_the_queues_own_past_after_its_ids_and_nothing_else_changes(
    ) {
        let inner = Arc::new(MemoryQueue::new(vec![]));
        inner.add_past(vec![past(7, None)]);
        let plain = Remembering::wrap(inner.clone(), None);
        assert_eq!(plain.similar(&brief()).await.len(), 1);
        let empty = Remembering::wrap(inner.clone(), Some(Arc::from(Vec::new())));
        assert_eq!(empty.similar(&brief()).await.len(), 1);

        let cause = Cause::new("oom-kill", "tikv-1".to_string());
        let q = Remembering::wrap(inner, Some(Arc::from(vec![past(1, Some(cause))])));
        let seen = q.similar(&brief()).await;
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].id, 7, "the store's own first, unchanged");
        assert_eq!(seen[1].id, 1 + 7 + ID_OFFSET, "after the store's own ids");
        assert_eq!(
            seen[1].confirmed_cause.as_ref().map(ToString::to_string),
            Some("oom-kill on tikv-1".into())
        );
        assert!(q.next_open(&HashSet::new()).await.is_none());
    }
}
