//! The audit wing: the monthly report computed from the entries. The log itself
//! (the hash chain every change is committed with) is in [`crate::core::audit`].

pub mod report;

pub use crate::core::audit::{entry_key, AuditEntry, Verification};
