//! Signed in before the body is read: a service that takes large requests (a
//! hotlist file) is wrapped so that the caller's bearer token is checked on the
//! request's headers, and an unknown caller is answered `Unauthenticated`
//! without a byte of the body being read or buffered. A unary method whose
//! large bodies belong on a streaming one may name it: tonic's refusal of an
//! oversized message is then replaced by one that says where to send it.

use crate::core::Controller;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::Status;

/// A gRPC service that only sees requests from signed-in callers.
#[derive(Clone)]
pub struct SignedInFirst<S> {
    inner: S,
    ctl: Arc<Controller>,
    too_large: Option<TooLarge>,
}

/// A unary method's path and what a caller whose message is too large for it
/// is told instead of tonic's refusal.
type TooLarge = (&'static str, fn() -> Status);

impl<S> SignedInFirst<S> {
    /// Wraps `inner`.
    pub fn new(ctl: Arc<Controller>, inner: S) -> Self {
        SignedInFirst {
            inner,
            ctl,
            too_large: None,
        }
    }

    /// Answers a request to `path` whose message the service refused as too
    /// large with `status()` instead (tonic's own message names no remedy).
    pub fn too_large(mut self, path: &'static str, status: fn() -> Status) -> Self {
        self.too_large = Some((path, status));
        self
    }
}

impl<S: NamedService> NamedService for SignedInFirst<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for SignedInFirst<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let ctl = self.ctl.clone();
        let too_large = self
            .too_large
            .filter(|(path, _)| req.uri().path() == *path)
            .map(|(_, status)| status);
        Box::pin(async move {
            let token = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string());
            let refused = match token {
                None => Some(Status::unauthenticated(
                    "not signed in: run `camplane login`",
                )),
                Some(t) => ctl.authenticate(&t).await.err().map(Status::from),
            };
            match refused {
                Some(status) => Ok(status.into_http()),
                None => {
                    let resp = inner.call(req).await?;
                    // tonic refuses an oversized message on its length prefix,
                    // before reading it, as a trailers-only answer.
                    let oversized = Status::from_header_map(resp.headers()).is_some_and(|s| {
                        s.code() == tonic::Code::OutOfRange
                            && s.message().contains("message length too large")
                    });
                    match too_large {
                        Some(status) if oversized => Ok(status().into_http()),
                        _ => Ok(resp),
                    }
                }
            }
        })
    }
}
