//! Work the controller does on its own schedule.

pub mod retention;
