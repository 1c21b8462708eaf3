//! The camplane controller: registry of sites, departments and cameras; placement
//! requests and their approval chain; users, roles and sessions; the hash-chained
//! audit log; all kept in a [`store::Store`] (embedded or etcd) and served over gRPC.

pub mod alert_review;
pub mod alpr_approval;
pub mod api;
pub mod audit;
pub mod audit_report;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod error;
pub mod fleet;
pub mod governance_api;
pub mod hotlist;
pub mod leader;
pub mod metrics;
pub mod pki;
pub mod placement;
pub mod portal;
pub mod publog;
pub mod recordings; // governance2
pub mod recordings_api; // governance2
pub mod retention;
pub mod search;
pub mod server;
pub mod service;
pub mod store;
pub mod testing;

pub use error::{Error, Result};
