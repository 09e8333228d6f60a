//! Subjects: the systems the operator runs. The core never names a subject; the TiKV
//! subject lives in [`tikv`].

pub mod tikv;
