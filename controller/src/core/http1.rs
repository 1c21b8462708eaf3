//! HTTP/1.1 serving shared by the controller's two web doors (the public
//! portal on `http_listen`, the console on `console_listen`): at most a
//! configured number of connections open at once, one more closed as it
//! arrives and counted; each connection given [`HEADER_READ_TIMEOUT`] to send
//! a request's headers. axum's own `serve` sets no timer, so hyper drops its
//! header timeout there: a client that opens connections and sends nothing
//! would hold them, and the descriptors the gRPC door, the agents and the
//! store share, for ever.

use crate::core::Controller;
use axum::extract::ConnectInfo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// How long a client has to send a request's headers once it has a
/// connection (and between requests on a kept-alive one): a client that sends
/// nothing, or trickles its headers, gives its place back. A page's request
/// comes in one packet; a WebSocket or an event stream, once answered, is not
/// reading headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection and its place among the door's open ones (given back when
/// the connection is dropped).
pub struct Placed<IO> {
    io: IO,
    _place: OwnedSemaphorePermit,
}

impl<IO> Placed<IO> {
    /// `io`, holding `place`.
    pub fn new(io: IO, place: OwnedSemaphorePermit) -> Self {
        Placed { io, _place: place }
    }
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Placed<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Placed<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Accepts connections on `tcp` until `cancel`, each holding one of `max`
/// places; one more is closed as it arrives, counted in
/// `camplane_controller_work_cancelled_total{what=refused}` and logged at most
/// once a minute naming `key` (the config key that sets `max`). Accepted ones
/// come out of the returned queue.
pub fn accept_bounded(
    ctl: Arc<Controller>,
    tcp: tokio::net::TcpListener,
    max: usize,
    (refused, key): (&'static str, &'static str),
    cancel: CancellationToken,
) -> mpsc::Receiver<(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let (tx, rx) = mpsc::channel(64);
    let places = Arc::new(Semaphore::new(max));
    tokio::spawn(async move {
        let mut refused_since_log = 0u64;
        let mut last_log: Option<std::time::Instant> = None;
        loop {
            let (stream, peer) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = tcp.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: wait, then go on.
                        tracing::warn!(error = %e, door = key, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // Every place taken: this one is closed as it arrives.
            let Ok(place) = places.clone().try_acquire_owned() else {
                drop(stream);
                ctl.metrics.work_cancelled(refused);
                refused_since_log += 1;
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(
                        refused = refused_since_log,
                        max,
                        "connections refused: {key} open"
                    );
                    refused_since_log = 0;
                    last_log = Some(std::time::Instant::now());
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            if tx.send((stream, peer, place)).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Serves each connection out of `conns` (HTTP/1.1, WebSocket upgrades) with
/// `app`, each request carrying `ConnectInfo<SocketAddr>` (its peer), until
/// `cancel`; then lets the open ones finish what they answer.
pub async fn serve_connections<IO>(
    mut conns: mpsc::Receiver<(IO, SocketAddr)>,
    app: axum::Router,
    cancel: CancellationToken,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut open = tokio::task::JoinSet::new();
    loop {
        let (io, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            c = conns.recv() => match c {
                Some(c) => c,
                None => break,
            },
        };
        while open.try_join_next().is_some() {}
        let (app, cancel) = (app.clone(), cancel.clone());
        open.spawn(async move {
            let svc = hyper::service::service_fn(
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    tower::ServiceExt::oneshot(app.clone(), req)
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
                .with_upgrades();
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
    while open.join_next().await.is_some() {}
}
