//! What every wing stands on: the controller handle, the store and its watch-fed
//! cache, the clock, roles and sessions, the CA, leadership, counters and errors.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod pki;
pub mod service;
pub mod store;
