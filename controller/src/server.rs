//! Running a controller: open the store, start the cache and the reconciler,
//! create the first admin, serve gRPC until shutdown.

use crate::api::Api;
use crate::core::clock::{DynClock, SystemClock};
use crate::core::store;
use crate::core::Controller;
use crate::Result;
use camplane_config::controller::ControllerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running controller.
pub struct Running {
    /// The controller.
    pub controller: Arc<Controller>,
    /// The address it serves gRPC on.
    pub addr: SocketAddr,
    /// The first admin's generated password, when one was generated.
    pub initial_password: Option<String>,
    /// The first city manager's generated password (`auth.initial_city_manager`
    /// without its variable), when one was generated.
    pub initial_city_manager_password: Option<String>,
    /// The CA certificate clients must trust (PEM).
    pub ca_pem: String,
    /// Whether this controller leads (runs the work that must happen once).
    pub leader: crate::core::leader::Leadership,
    /// Where the public portal serves plain HTTP, when configured.
    pub http_addr: Option<SocketAddr>,
    /// Where the operator console serves HTTPS (`console_listen`), when configured.
    pub console_addr: Option<SocketAddr>,
    /// The serving task.
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// How long a shutdown waits for calls in flight before dropping them: well
/// inside the 10 s a shutdown may take, leaving time for the process to exit.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts a controller with the system clock.
pub async fn start(config: ControllerConfig, cancel: CancellationToken) -> Result<Running> {
    start_with_clock(config, Arc::new(SystemClock), cancel).await
}

/// Starts a controller with an injected clock.
pub async fn start_with_clock(
    config: ControllerConfig,
    clock: DynClock,
    cancel: CancellationToken,
) -> Result<Running> {
    // On etcd, keep the client for the leader election.
    let (store, etcd): (store::DynStore, Option<etcd_client::Client>) = match &config.store.etcd {
        Some(e) => {
            let s = store::etcd::EtcdStore::connect(&e.endpoints, &e.prefix).await?;
            let client = s.client().clone();
            (Arc::new(s), Some(client))
        }
        None => (store::open(&config.store).await?, None),
    };
    tracing::info!(backend = store.backend(), "store opened");
    let env_pw = std::env::var(&config.auth.initial_admin_password_env)
        .ok()
        .filter(|s| !s.is_empty());
    let cm_pw = std::env::var(&config.auth.initial_city_manager_password_env)
        .ok()
        .filter(|s| !s.is_empty());
    let listen: SocketAddr = config.listen.parse().map_err(|_| {
        crate::Error::InvalidArgument(format!("listen: {:?} is not an address", config.listen))
    })?;
    let ctl = Controller::new(config, store, clock, cancel.clone()).await?;
    let (initial_password, initial_city_manager_password) = ctl.bootstrap(env_pw, cm_pw).await?;
    // Users stored before ids existed get theirs (sessions then belong to ids).
    ctl.assign_user_ids().await?;
    // A store from before reader histories: each reader's written once from its record.
    ctl.backfill_reader_history().await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| crate::Error::io(format!("binding {listen}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| crate::Error::io("local address", e))?;
    let leadership = match (&etcd, &ctl.config.store.etcd) {
        (Some(client), Some(e)) => crate::core::leader::spawn_etcd(
            client.clone(),
            format!("{}/leader", e.prefix.trim_end_matches('/')),
            format!("{}@{addr}", std::process::id()),
            e.lease_seconds as i64,
            cancel.clone(),
        ),
        _ => crate::core::leader::always(),
    };
    tokio::spawn(crate::housekeeping::run(
        ctl.clone(),
        std::time::Duration::from_secs(1),
        leadership.clone(),
        cancel.clone(),
    ));
    // Certificates are checked by peers against their real clocks, not the injected one.
    let now = jiff::Timestamp::now();
    let pki = crate::core::pki::Pki::load_or_create(&ctl.store, &ctl.config.city.name, now).await?;
    // Loaded before any agent connects: their configs carry camera credentials.
    ctl.camera_secrets().await?;
    if ctl.config.console_listen.is_some() && !ctl.config.tls.enabled {
        // Passwords would cross the network in clear.
        return Err(crate::Error::InvalidArgument(
            "console_listen is set but tls.enabled is false: the console is served over TLS only (passwords are sent to it)".into(),
        ));
    }
    let fleet = Arc::new(crate::fleet::Fleet {
        ctl: ctl.clone(),
        pki: pki.clone(),
        index: Default::default(),
    });
    // One index rebuild per fleet change; only the sessions it concerns wake.
    tokio::spawn(fleet.clone().wake_on_changes(cancel.clone()));
    // Other controllers reach this one for the agents it holds (alpr::route).
    let route = {
        let tls = &ctl.config.tls;
        let mut peer_serial = None;
        let peer_tls = if tls.enabled {
            let (cert, key) = pki.controller_peer_identity(&format!("{addr}"), now)?;
            peer_serial = Some(crate::core::pki::pem_serial(&cert)?);
            let mut c = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca_cert_pem))
                .identity(tonic::transport::Identity::from_pem(cert, key));
            if let Some(name) = tls.server_names.first() {
                c = c.domain_name(name.clone());
            }
            Some(c)
        } else {
            None
        };
        let advertise = ctl
            .config
            .cluster
            .advertise
            .clone()
            .unwrap_or_else(|| addr.to_string());
        if addr.ip().is_unspecified() && ctl.config.cluster.advertise.is_none() {
            tracing::warn!(%addr, "cluster.advertise (or --advertise) is not set: other controllers cannot reach this one's agents");
        }
        let ttl = ctl
            .config
            .store
            .etcd
            .as_ref()
            .map(|e| e.lease_seconds as i64)
            .unwrap_or(10);
        let route = crate::alpr::route::Route::new(ctl.store.clone(), advertise, ttl, peer_tls);
        Arc::new(match peer_serial {
            Some(s) => route.with_peer_serial(s),
            None => route,
        })
    };
    ctl.wing::<crate::alpr::search::Hub>()
        .set_route(route.clone());
    {
        let cancel = cancel.clone();
        tokio::spawn(async move { route.keep(cancel).await });
    }
    let routes = Api::new(ctl.clone())
        .routes()
        .add_service(camplane_proto::v1::fleet_server::FleetServer::new(
            crate::api::FleetApi::new(fleet.clone(), cancel.clone()),
        ))
        .add_service(camplane_proto::v1::peer_server::PeerServer::new(
            crate::api::peer::PeerApi::new(ctl.clone()),
        ))
        .add_service(
            camplane_proto::v1::recordings_server::RecordingsServer::new(
                crate::api::recordings::RecordingsApi::new(Api::new(ctl.clone()), pki.clone()),
            ),
        )
        .add_service(camplane_proto::v1::viewing_server::ViewingServer::new(
            crate::api::viewing::ViewingApi::new(Api::new(ctl.clone())),
        ))
        .add_service(camplane_proto::v1::masks_server::MasksServer::new(
            crate::api::masks::MasksApi::new(Api::new(ctl.clone())),
        ));
    let mut builder = tonic::transport::Server::builder()
        .layer(crate::core::metrics::MetricsLayer(ctl.metrics.clone()));
    let tls = &ctl.config.tls;
    if tls.enabled {
        let (cert, key) = pki.server_identity(&tls.server_names, now)?;
        let cfg = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key))
            .client_ca_root(tonic::transport::Certificate::from_pem(&pki.ca_cert_pem))
            .client_auth_optional(true);
        builder = builder
            .tls_config(cfg)
            .map_err(|e| crate::Error::Internal(format!("TLS config: {e}")))?;
        if let Some(path) = &tls.ca_cert_file {
            std::fs::write(path, &pki.ca_cert_pem)
                .map_err(|e| crate::Error::io(format!("writing {}", path.display()), e))?;
        }
    } else {
        tracing::warn!("TLS is disabled: traffic is in the clear and agents cannot enrol");
    }
    let http_addr = match &ctl.config.http_listen {
        Some(h) => {
            Some(crate::api::http::serve(ctl.clone(), leadership.clone(), h, cancel.clone()).await?)
        }
        None => None,
    };
    // The console: one more door, with the gRPC listener's certificate.
    let console_addr = match &ctl.config.console_listen {
        Some(c) => Some(
            crate::console::serve(
                ctl.clone(),
                fleet.clone(),
                c,
                pki.server_identity(&ctl.config.tls.server_names, now)?,
                cancel.clone(),
            )
            .await?,
        ),
        None => None,
    };
    // TCP_NODELAY on every accepted connection: without it a small answer waits
    // for the client's delayed ACK (about 40 ms), the p99 stall of reads.
    // `serve_with_incoming*` ignores the builder's own `tcp_nodelay`.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        let serve = builder
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, cancel.clone().cancelled_owned());
        // A graceful shutdown waits for every call in flight (a stream, an
        // upload whose body never ends): it gets SHUTDOWN_GRACE, then the server
        // stops and the calls left are dropped (their work is cancelled by the
        // same token), so a shutdown ends within 10 s whatever is running.
        tokio::select! {
            r = serve => r.map_err(|e| crate::Error::Unavailable(format!("gRPC server: {e}"))),
            _ = async {
                cancel.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "calls still in flight at shutdown: dropped");
                Ok(())
            }
        }
    });
    tracing::info!(%addr, "controller serving");
    let ca_pem = pki.ca_cert_pem.clone();
    Ok(Running {
        controller: ctl,
        addr,
        initial_password,
        initial_city_manager_password,
        ca_pem,
        leader: leadership,
        http_addr,
        console_addr,
        task,
    })
}
