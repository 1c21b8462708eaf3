//! A controller on a given store, for the core's unit tests.

use super::Controller;
use crate::core::clock::SystemClock;
use crate::core::store::DynStore;
use camplane_config::controller::ControllerConfig;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A controller replica of a small test city on `store`.
pub(crate) async fn replica(store: DynStore) -> Arc<Controller> {
    let config = ControllerConfig::parse(
        "t.yaml",
        "city:\n  name: T\n  time_zone: America/Chicago\nlisten: 127.0.0.1:0\nstore:\n  embedded:\n    path: /x\n",
    )
    .unwrap();
    Controller::new(
        config,
        store,
        Arc::new(SystemClock),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}
