//! Docker adapter (bollard). Owned by the runtime work.
