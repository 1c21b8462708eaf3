//! Oversight: the duties policy 5.05 gives to people outside the day-to-day use
//! of the cameras. So far: complaints about the use of the camera systems and
//! their appeals ([`complaints`], the rule in [`complaint_machine`]); external
//! requests to release records ([`records`], the rule in [`records_machine`]);
//! maintenance and testing of the cameras ([`maintenance`], the rule in
//! [`maintenance_machine`]); the policy in force and its annual review
//! ([`policy_review`], the rule in [`policy_machine`]); the department
//! compliance report ([`compliance`]).

pub mod complaint_machine;
pub mod complaints;
pub mod compliance;
pub mod maintenance;
pub mod maintenance_machine;
pub mod policy_machine;
pub mod policy_review;
pub mod records;
pub mod records_machine;
