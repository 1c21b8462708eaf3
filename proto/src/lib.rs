//! Wire types and gRPC services of camplane, generated from `proto/camplane/v1/*.proto`.
//!
//! Objects travel as JSON documents inside typed envelopes: the domain types live
//! once, in `camplane-config::model`, and the envelopes carry kind, name and revision
//! so that apply/get/watch stay generic over every kind.
#![allow(clippy::all)]

/// Version 1 of the camplane API.
pub mod v1 {
    tonic::include_proto!("camplane.v1");
}

/// Message size limits both ends of a call set on their tonic clients and servers
/// (tonic's default of 4 MiB each way is too small for these services).
pub mod limits {
    /// The largest message the `Placement` service takes or gives: GIS layers of
    /// tens of MB travel whole.
    pub const PLACEMENT_MAX_MESSAGE: usize = 256 << 20;
    /// The largest hotlist CSV file the `Hotlists` service accepts (bytes).
    pub const HOTLIST_MAX_FILE: usize = 64 << 20;
    /// The largest `Hotlists` request: a file of [`HOTLIST_MAX_FILE`] bytes and the
    /// rest of its request.
    pub const HOTLIST_MAX_MESSAGE: usize = HOTLIST_MAX_FILE + (1 << 20);
}
