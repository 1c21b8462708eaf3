//! Camera placement compliance: the rules of `shared/spec/placement.md`.
//!
//! Load GIS layers into a [`LayerSet`], build [`Layers`] with the city's
//! [`Rules`], parse each request with [`parse_request_line`] and call
//! [`check`] for its [`Answer`]. [`offline::run_check`] is the CLI's
//! `placement check`; [`map::render_svg`] draws layers and cameras.

pub mod answer;
pub mod check;
mod features;
pub mod layers;
pub mod limits;
pub mod map;
pub mod offline;
mod polyops;
pub mod proj;
pub mod request;
pub mod rules;
mod validity;

pub use answer::{Answer, Basis, NearestStreet, Reason, Verdict};
pub use check::{check, check_bruteforce, try_check};
pub use layers::{InvalidPolygons, LayerKind, LayerSet, Layers, Repair};
pub use limits::{Cancel, Limits};
pub use request::{
    parse_request_line, Mount, Purpose, Request, RequestError, Room, SpecialEvent, View,
};
pub use rules::{ClassRule, Rules, StreetClass};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// A layer file was refused as a whole (no verdict on partial layers).
    /// `feature` is the 0-based index in the FeatureCollection, when one feature is at fault.
    #[error("layer {file}{}: {message}", feature.map(|i| format!(", feature {i}")).unwrap_or_default())]
    Layer {
        /// The file (or store key) the layer came from.
        file: String,
        /// The offending feature's index in `features`.
        feature: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A rules file has one or more problems, all listed.
    #[error("rules {file}: {}", problems.join("; "))]
    Rules {
        /// The rules file.
        file: String,
        /// Every problem found, each with its path.
        problems: Vec<String>,
    },
    /// A request could not be read.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The command line was not usable.
    #[error("{0}")]
    Usage(String),
    /// The work was cancelled (its client went away, or the server is stopping).
    #[error("cancelled: the client went away or the server is stopping")]
    Cancelled,
}

impl From<limits::Cancelled> for PlacementError {
    fn from(_: limits::Cancelled) -> Self {
        PlacementError::Cancelled
    }
}
