//! In-memory runtime for tests. Owned by the runtime work.
