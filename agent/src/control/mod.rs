//! The agent's side of the control stream, in three parts:
//!
//! - [`session`]: enrolment (a key and a certificate signing request with the
//!   one-time token, then mutual TLS, renewed once two thirds of the certificate's
//!   life have passed) and the one long-lived bidirectional stream: desired config
//!   in (persisted, reconciled, acknowledged; a restarted agent with no controller
//!   runs on the last config it persisted), hotlist updates in, reports out.
//!   Reconnects go through every listed controller with exponential backoff and jitter.
//! - [`queries`]: answers to the controller's queries (plate reads, recordings, crops),
//!   worked out off the session loop.
//! - [`reporter`]: health, closed active windows and hotlist alerts, spooled durably
//!   first ([`crate::spool`]), sent, and dropped when acknowledged, so nothing is lost
//!   while the controller is away and nothing is counted twice; its periodic loop
//!   also runs retention.

mod queries;
mod reporter;
mod session;

pub use reporter::{window_key, Reporter};
pub use session::{IdentityMeta, PersistedConfig, Session};
