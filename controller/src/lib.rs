//! The camplane controller: registry of sites, departments and cameras; placement
//! requests and their approval chain; users, roles and sessions; the hash-chained
//! audit log; all kept in a [`store::Store`] (embedded or etcd) and served over gRPC.
//!
//! One folder per wing (see ARCHITECTURE.md): `core` holds the controller handle and
//! what every wing needs (store, cache, clock, roles); the wings import core and the
//! model; `api` translates gRPC.

pub mod alpr;
pub mod api;
pub mod approvals;
pub mod audit;
pub mod console;
pub mod core;
pub mod fleet;
pub mod housekeeping;
pub mod oversight;
pub mod publog;
pub mod recordings;
pub mod registry;
pub mod server;
pub mod viewing;

// The paths tests, benches and the CLI name; the modules live in their wings.
pub use self::alpr::hotlist;
pub use self::approvals::placement;
pub use self::core::{auth, clock, error, pki, store};
pub use error::{Error, Result};
