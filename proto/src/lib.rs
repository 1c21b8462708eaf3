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
