//! Placement requests: the approval chain and the placement rules' verdicts.

pub mod binding;
pub mod chain;
pub mod placement;
pub mod request_machine;
pub mod verdict;
