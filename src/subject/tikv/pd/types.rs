//! PD wire types.
