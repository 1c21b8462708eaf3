//! ALPR governance: case-numbered searches, query approvals, hotlists and the
//! review of the alerts they raise.

pub mod alert_machine;
pub mod alert_review;
pub mod approval;
pub mod case_list;
pub mod hotlist;
pub mod query_machine;
pub mod route;
pub mod search;
