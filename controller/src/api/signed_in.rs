//! Signed in before the body is read: a service that takes large requests (a
//! hotlist file) is wrapped so that the caller's bearer token is checked on the
//! request's headers, and an unknown caller is answered `Unauthenticated`
//! without a byte of the body being read or buffered.

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
}

impl<S> SignedInFirst<S> {
    /// Wraps `inner`.
    pub fn new(ctl: Arc<Controller>, inner: S) -> Self {
        SignedInFirst { inner, ctl }
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
                None => inner.call(req).await,
            }
        })
    }
}
