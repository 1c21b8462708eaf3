//! camplane's one test harness, shared by the tests and benches of every crate (a
//! dev-dependency only, so no production library carries it):
//!
//! - [`servers`]: real outside servers (etcd, a GStreamer RTSP server, gpsd, a broken
//!   camera), the tools they need with the command that installs them, free ports;
//! - [`media`]: FFmpeg clips, probes and decodes;
//! - [`controller`]: a controller in the test process, sign-in, requests, manifests,
//!   the audit log, the city fixture;
//! - [`agent`]: an agent in the test process (enrolment token, config, supervisor);
//! - [`placement`]: the placement tests' controller, on plaintext gRPC and the spec's
//!   GIS data;
//! - [`http`]: plain HTTP reads and metrics checks;
//! - [`console`]: the operator console's HTTPS client and a headless Chromium
//!   driven over the DevTools protocol.
//!
//! Missing tools fail the test naming what to install; nothing here skips.

pub mod agent;
pub mod console;
pub mod controller;
pub mod http;
pub mod media;
pub mod placement;
pub mod process;
pub mod servers;
