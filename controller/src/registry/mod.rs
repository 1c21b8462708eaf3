//! The registry: declarative apply of sites, departments, cameras and agents,
//! the camera life cycle, legal holds, users and their sessions.

pub mod camera_machine;
pub mod cameras;
pub mod grant_machine;
pub mod hold_machine;
pub mod holds;
pub mod lockout;
pub mod objects;
pub mod users;
pub mod views;

pub use objects::ApplyResult;
