//! Placement requests: the rules engine on GIS layers and its verdicts.

pub mod placement;
