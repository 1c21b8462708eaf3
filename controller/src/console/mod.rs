//! The operator console: one more thin door, HTTPS on `console_listen`. Pages
//! are rendered on the server; every action calls the same wing operation the
//! gRPC door calls, with the same [`Actor`], so refusals, audit entries and
//! what a reader is shown (`registry::views::shown_to`) are the gRPC ones. No
//! rule lives here.
//!
//! - Served over TLS only, with the gRPC listener's certificate (the controller
//!   CA's); a config with TLS off and `console_listen` set is refused.
//! - Sign-in is `Controller::login` (argon2id users, lockout, audit, the client
//!   address as the source); the cookie holds the session token the CLI would
//!   get, so expiry, sign-out and deleted users behave as in the CLI.
//! - Every POST form carries a CSRF token, HMAC-SHA256 of the session token
//!   under a per-process random key; a POST without it or with a wrong one is
//!   refused (403, audited). A POST whose `Origin` is another site is refused too
//!   (the sign-in form has no session to bind a token to).
//! - Every answer carries a strict Content-Security-Policy (our own script
//!   file only, no inline script, no eval),
//!   `nosniff`, `Referrer-Policy: same-origin` (`no-referrer` would make
//!   browsers send `Origin: null` with our own forms), and pages `no-store`.

mod alerts;
mod audit;
mod cameras;
pub mod holds;
mod html;
mod map;
pub mod oversight;
mod player;
pub mod policy;
mod requests;
mod search;
mod users;

use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::{http1, AuditAction, Controller};
use crate::fleet::Fleet;
use crate::{Error, Result};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use html::Frame;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

/// The session cookie's name.
pub const COOKIE: &str = "camplane_session";

/// The Content-Security-Policy of every answer: nothing but our own
/// stylesheet and script file (no inline script, no eval), images, event
/// streams and the player's WebSocket from us, media only from the player's
/// own MediaSource (a `blob:` URL the script makes), forms posting to us, no
/// framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; media-src blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest form body read (sign-in, a request's step): anything bigger is
/// refused before it is parsed.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const CSS: &str = include_str!("console.css");

/// The one script: new alerts from the event stream (pages work without it).
const JS: &str = include_str!("console.js");

/// The console over one controller.
pub struct Console {
    ctl: Arc<Controller>,
    fleet: Arc<Fleet>,
    /// Signs session tokens into CSRF tokens; new in every process, so a
    /// restart only makes open forms stale.
    csrf_key: ring::hmac::Key,
    /// The cameras list's rows, kept per camera revision (see [`cameras::Rows`]).
    rows: cameras::Rows,
    /// The map's layers drawing and verdicts (see [`map::Memo`]).
    map: map::Memo,
}

/// The signed-in user of one request.
pub(crate) struct Signed {
    /// Who, with their current roles (as `authenticate` gives them).
    pub actor: Actor,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Signed {
    /// The page frame: name, roles, sign-out form and the pages they reach.
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            user: &self.actor.username,
            roles: self
                .actor
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            csrf: &self.csrf,
            nav: nav(&self.actor),
        }
    }
}

/// The pages `actor`'s roles reach, in menu order. Later pages (alerts, ALPR
/// search, approvals and holds) get their entry here.
fn nav(actor: &Actor) -> Vec<html::NavItem> {
    let mut n = Vec::new();
    if Operation::ReadObjects.allows(actor) {
        n.push(("/console/cameras", "Cameras"));
    }
    if Operation::ViewPlacementMap.allows(actor) {
        n.push(("/console/map", "Map"));
    }
    if requests::takes_part(actor) {
        n.push(("/console/requests", "Placement requests"));
    }
    if alerts::receives(actor) {
        n.push(("/console/alerts", "Alerts"));
    }
    if search::searches(actor) {
        n.push(("/console/search", "ALPR search"));
    }
    if search::sees_approvals(actor) {
        n.push(("/console/approvals", "Query approvals"));
    }
    if Operation::ReadUsers.allows(actor) {
        n.push(("/console/users", "Users and roles"));
    }
    if Operation::ReadAudit.allows(actor) {
        n.push(("/console/audit", "Audit"));
    }
    if holds::places_holds(actor) {
        n.push(("/console/holds", "Legal holds"));
    }
    if oversight::reads_complaints(actor) {
        n.push(("/console/complaints", "Complaints"));
    }
    if oversight::reads_records(actor) {
        n.push(("/console/records", "Records requests"));
    }
    if oversight::reads_maintenance(actor) {
        n.push(("/console/maintenance", "Maintenance"));
    }
    if oversight::reads_compliance(actor) {
        n.push(("/console/compliance", "Compliance"));
    }
    n.push(("/console/policy", "Policy"));
    n
}

/// One console connection: the TLS stream, holding its place among
/// `console_max_connections` (TLS handshakes included).
type Conn = http1::Placed<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

/// The TLS settings of the console: the server certificate and key (PEM) of
/// the gRPC listener, HTTP/1.1, the ring provider the rest of the process uses.
fn tls_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: &dyn std::fmt::Display| Error::Internal(format!("console TLS: {e}"));
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad(&e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(&e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad(&e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Binds `listen` and serves the console over TLS (the server certificate
/// `cert_pem`, its key `key_pem`) until `cancel`. Returns the bound address.
pub async fn serve(
    ctl: Arc<Controller>,
    fleet: Arc<Fleet>,
    listen: &str,
    (cert_pem, key_pem): (String, String),
    cancel: CancellationToken,
) -> Result<SocketAddr> {
    if !ctl.config.tls.enabled {
        return Err(Error::InvalidArgument(
            "console_listen: the console is served over TLS only (passwords are sent to it): turn tls.enabled on or remove console_listen".into(),
        ));
    }
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Error::InvalidArgument(format!("console_listen: {listen:?} is not an address"))
    })?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&cert_pem, &key_pem)?));
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("binding {addr} (console_listen)"), e))?;
    let bound = tcp
        .local_addr()
        .map_err(|e| Error::io("local address", e))?;
    let mut accepted = http1::accept_bounded(
        ctl.clone(),
        tcp,
        ctl.config.console_max_connections,
        ("console_connection_refused", "console_max_connections"),
        cancel.clone(),
    );
    // Handshakes run in their own tasks, so a slow client never holds up the
    // others; each holds its place from the moment it was accepted.
    let (tx, rx) = tokio::sync::mpsc::channel::<(Conn, SocketAddr)>(64);
    tokio::spawn(async move {
        while let Some((stream, peer, place)) = accepted.recv().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((http1::Placed::new(tls, place), peer)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "console TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(%peer, "console TLS handshake timed out"),
                }
            });
        }
    });
    let console = Arc::new(Console {
        ctl,
        fleet,
        csrf_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()),
        rows: Default::default(),
        map: Default::default(),
    });
    let app = axum::Router::new().fallback(
        move |ConnectInfo(client): ConnectInfo<SocketAddr>, req: Request<Body>| {
            let console = console.clone();
            async move { secured(console.handle(client, req).await) }
        },
    );
    tokio::spawn(http1::serve_connections(rx, app, cancel));
    tracing::info!(addr = %bound, "operator console serving https://{bound}/console/");
    Ok(bound)
}

/// Adds the security headers every answer carries.
fn secured(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// An HTML answer.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// 303 See Other to `to` (a path of ours).
pub(crate) fn redirect(to: &str) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The HTTP status of a refusal, and the words shown (an internal error's
/// details stay in the log).
pub(crate) fn status_of(e: &Error) -> (StatusCode, String) {
    let status = match e {
        Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::InvalidArgument(_) | Error::Config(_) => StatusCode::BAD_REQUEST,
        Error::FailedPrecondition(_) | Error::AlreadyExists(_) | Error::Conflict(_) => {
            StatusCode::CONFLICT
        }
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::Unavailable(_) | Error::Agent(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(error = %e, "console: internal error");
        "Something went wrong on the controller; try again shortly.".to_string()
    } else {
        e.to_string()
    };
    (status, text)
}

/// A page saying why an action or page was refused.
pub(crate) fn refused(signed: &Signed, e: &Error) -> Response<Body> {
    let (status, text) = status_of(e);
    let title = if status == StatusCode::FORBIDDEN {
        "Not allowed"
    } else if status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Refused"
    };
    html_response(
        status,
        html::page(title, Some(&signed.frame()), &html::message("error", &text)),
    )
}

/// The value of cookie `name` in the request's `Cookie` headers; none when
/// it comes more than once (a second one, on a longer path or from a sibling
/// site, could sign the operator in as someone else: neither is taken).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The `Set-Cookie` value that holds `token` for `max_age` seconds (0: removes it).
pub fn session_cookie(token: &str, max_age: i64) -> String {
    format!("{COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/console; Max-Age={max_age}")
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
async fn read_form(body: Body) -> std::result::Result<Vec<(String, String)>, Response<Body>> {
    match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => Ok(html::pairs(&String::from_utf8_lossy(&b))),
        Err(_) => Err(html_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            html::page(
                "Too large",
                None,
                &html::message("error", "The form was larger than the console takes."),
            ),
        )),
    }
}

/// Whether a POST comes from another site: its `Origin` names a host other
/// than the one it was sent to (browsers send `Origin` with every POST).
fn cross_site(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .strip_prefix("https://")
        .is_none_or(|o| !o.eq_ignore_ascii_case(host))
}

/// Whether a browser says the request comes from another origin: an
/// `Origin` that is not the console's, or `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed in). Clients that send neither (the CLI's
/// kind, tests) are not browsers a page can drive.
fn fetched_from_elsewhere(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    cross_site(headers) || site.is_some_and(|s| s != "same-origin" && s != "none")
}

impl Console {
    /// The CSRF token of a session.
    fn csrf_for(&self, token: &str) -> String {
        hex::encode(ring::hmac::sign(&self.csrf_key, token.as_bytes()))
    }

    /// Whether `given` is the CSRF token of the session `token`.
    pub(crate) fn csrf_ok(&self, token: &str, given: &str) -> bool {
        hex::decode(given)
            .is_ok_and(|tag| ring::hmac::verify(&self.csrf_key, token.as_bytes(), &tag).is_ok())
    }

    /// Answers one request.
    async fn handle(&self, client: SocketAddr, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let method = parts.method.clone();
        let read = method == Method::GET || method == Method::HEAD;
        if method == Method::POST && cross_site(&parts.headers) {
            return html_response(
                StatusCode::FORBIDDEN,
                html::page(
                    "Not allowed",
                    None,
                    &html::message("error", "A form from another site was refused."),
                ),
            );
        }
        match (read, path.as_str()) {
            (true, "/console/static/console.css") => {
                let mut r = Response::new(Body::from(CSS));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/css; charset=utf-8"),
                );
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=3600"),
                );
                return r;
            }
            (true, "/console/static/console.js") => {
                let mut r = Response::new(Body::from(JS));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/javascript; charset=utf-8"),
                );
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=3600"),
                );
                return r;
            }
            (true, "/console/login") => return login_page(StatusCode::OK, None),
            (false, "/console/login") if method == Method::POST => {
                return self.login(client, body).await
            }
            _ => {}
        }
        if path != "/console" && !path.starts_with("/console/") {
            return html_response(
                StatusCode::NOT_FOUND,
                html::page(
                    "Not found",
                    None,
                    &html::message("error", "The console is at /console/."),
                ),
            );
        }
        // Video over WebSocket (the player): its own checks before the upgrade.
        if read {
            if let Some(name) = path
                .strip_prefix("/console/cameras/")
                .and_then(|r| r.strip_suffix("/playback.ws"))
            {
                if !name.is_empty() && !name.contains('/') {
                    return player::playback_ws(self, parts, &path_name(name), &query).await;
                }
            }
            if let Some(name) = path
                .strip_prefix("/console/cameras/")
                .and_then(|r| r.strip_suffix("/live.ws"))
            {
                if !name.is_empty() && !name.contains('/') {
                    return player::live_ws(self, parts, &path_name(name), &query).await;
                }
            }
        }
        let token = cookie(&parts.headers, COOKIE).unwrap_or("").to_string();
        if method == Method::POST && path == "/console/logout" {
            return self.logout(&token, body).await;
        }
        let signed = match self.signed_in(&token).await {
            Ok(s) => s,
            Err(r) => return r,
        };
        if method == Method::POST {
            let form = match read_form(body).await {
                Ok(f) => f,
                Err(r) => return r,
            };
            let what = match path.as_str() {
                "/console/requests/new" => Some(AuditAction::ApplyKind(
                    camplane_config::model::Kind::PlacementRequest,
                )),
                p if p.starts_with("/console/requests/") => html::field(&form, "action")
                    .parse::<crate::approvals::request_machine::Action>()
                    .ok()
                    .map(|a| a.audit_action()),
                p if p.starts_with("/console/alerts/") => html::field(&form, "action")
                    .parse::<crate::alpr::alert_machine::Action>()
                    .ok()
                    .map(|a| a.audit_action()),
                "/console/search" => Some(AuditAction::AlprSearch),
                "/console/approvals" => html::field(&form, "action")
                    .parse::<crate::alpr::query_machine::Action>()
                    .ok()
                    .map(|a| a.audit_action()),
                p if p.starts_with("/console/users") => users::audit_action(p, &form),
                "/console/holds" => Some(AuditAction::HoldCreate),
                p if p.starts_with("/console/holds/") => Some(AuditAction::HoldRelease),
                p if p.starts_with("/console/policy/") => Some(AuditAction::PolicySignoff),
                "/console/complaints" => Some(AuditAction::ComplaintFile),
                p if p.starts_with("/console/records/") => match html::field(&form, "action") {
                    "review" => Some(AuditAction::RecordsReview),
                    "advise" => Some(AuditAction::RecordsAdvise),
                    _ => Some(AuditAction::RecordsDecide),
                },
                p if p.starts_with("/console/complaints/") => match html::field(&form, "action") {
                    "appeal" => Some(AuditAction::ComplaintAppeal),
                    _ => Some(AuditAction::ComplaintDecide),
                },
                _ => None,
            };
            if !self.csrf_ok(&token, html::field(&form, "csrf")) {
                return self.csrf_refused(&signed, what, &path).await;
            }
            // ALPR: alerts, searches, query approvals.
            match path.as_str() {
                "/console/search" => return search::run(self, &signed, &form).await,
                "/console/approvals" => return search::decide(self, &signed, &form).await,
                p => match p.strip_prefix("/console/alerts/") {
                    Some(id) if !id.is_empty() && !id.contains('/') => {
                        return alerts::act(self, &signed, &path_name(id), &form).await
                    }
                    _ => {}
                },
            }
            if path == "/console/holds" {
                return holds::create(self, &signed, &form).await;
            }
            if path == "/console/requests/new" {
                return requests::create(self, &signed, &form).await;
            }
            if let Some(name) = path.strip_prefix("/console/holds/") {
                if !name.is_empty() && !name.contains('/') {
                    return holds::release(self, &signed, &path_name(name)).await;
                }
            }
            if path == "/console/complaints" {
                return oversight::file(self, &signed, &form).await;
            }
            if let Some(id) = path.strip_prefix("/console/complaints/") {
                if !id.is_empty() && !id.contains('/') {
                    return oversight::step(self, &signed, &path_name(id), &form).await;
                }
            }
            if let Some(id) = path.strip_prefix("/console/records/") {
                if !id.is_empty() && !id.contains('/') {
                    return oversight::record_step(self, &signed, &path_name(id), &form).await;
                }
            }
            if let Some(v) = path.strip_prefix("/console/policy/") {
                if !v.is_empty() && !v.contains('/') {
                    return policy::signoff(self, &signed, &path_name(v), &form).await;
                }
            }
            if path == "/console/users" {
                return users::add(self, &signed, &form).await;
            }
            if let Some(name) = path.strip_prefix("/console/users/") {
                if !name.is_empty() && !name.contains('/') {
                    return users::act(self, &signed, &path_name(name), &form).await;
                }
            }
            return match path.strip_prefix("/console/requests/") {
                Some(name) if !name.is_empty() && !name.contains('/') => {
                    requests::act(self, &signed, &path_name(name), &form).await
                }
                _ => not_found(&signed),
            };
        }
        if !read {
            let mut r = html_response(
                StatusCode::METHOD_NOT_ALLOWED,
                html::page("Not allowed", Some(&signed.frame()), ""),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            return r;
        }
        match path.as_str() {
            "/console" | "/console/" => redirect(
                nav(&signed.actor)
                    .first()
                    .map(|(p, _)| *p)
                    .unwrap_or("/console/cameras"),
            ),
            "/console/cameras" => cameras::list(self, &signed, &query).await,
            "/console/requests" => requests::list(self, &signed).await,
            // ALPR: alerts (and their event stream), searches, crops, query approvals.
            "/console/alerts" => alerts::list(self, &signed, &query).await,
            // A stream of plates, audited under the operator's name: a page
            // of another origin (a sibling site the cookie reaches) may not
            // open it in the operator's browser.
            "/console/alerts/events" if fetched_from_elsewhere(&parts.headers) => {
                let e = Error::PermissionDenied(
                    "the alert stream is opened by the console's own pages".into(),
                );
                let mut d = Draft::new(
                    &signed.actor.username,
                    AuditAction::AlertsWatch,
                    "Alert",
                    "",
                );
                d.result = format!("denied: {e}");
                if let Err(ae) = self.ctl.audit.record(d).await {
                    tracing::warn!(error = %ae, "console: alert stream refusal not audited");
                }
                refused(&signed, &e)
            }
            "/console/alerts/events" => {
                alerts::events(self, &signed, &token, &query, &parts.headers).await
            }
            "/console/search" => search::form(&signed).await,
            "/console/approvals" => search::approvals(self, &signed, &query).await,
            p if p.starts_with("/console/crops/") => match p.strip_prefix("/console/crops/") {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    search::crop(self, &signed, &token, &path_name(id), &query, &path).await
                }
                _ => not_found(&signed),
            },
            "/console/map" => map::show(self, &signed, &query).await,
            "/console/requests/new" => requests::new_page(&signed).await,
            "/console/holds" => {
                let released = html::pairs(&query).iter().any(|(k, _)| k == "released");
                holds::list(
                    self,
                    &signed,
                    released.then(|| html::message("note", "The hold was released.")),
                )
                .await
            }
            "/console/users" => users::list(self, &signed, &query).await,
            "/console/complaints" => {
                let pairs = html::pairs(&query);
                let msg = if let Some((_, id)) = pairs.iter().find(|(k, _)| k == "filed") {
                    Some(html::message("note", &format!("Complaint {id} recorded.")))
                } else if pairs.iter().any(|(k, _)| k == "done") {
                    Some(html::message("note", "The step was recorded."))
                } else {
                    None
                };
                oversight::complaints(self, &signed, StatusCode::OK, msg).await
            }
            "/console/records" => {
                let done = html::pairs(&query).iter().any(|(k, _)| k == "done");
                oversight::records(
                    self,
                    &signed,
                    StatusCode::OK,
                    done.then(|| html::message("note", "The step was recorded.")),
                )
                .await
            }
            "/console/compliance" => oversight::compliance(self, &signed, &query).await,
            "/console/maintenance" => oversight::maintenance(self, &signed).await,
            "/console/policy" => {
                let done = html::pairs(&query).iter().any(|(k, _)| k == "signed");
                policy::show(
                    self,
                    &signed,
                    done.then(|| html::message("note", "Your signoff was recorded.")),
                )
                .await
            }
            "/console/audit" => audit::show(self, &signed, &query).await,
            "/console/audit/report" => audit::report(self, &signed, &query).await,
            p => {
                if let Some(name) = p.strip_prefix("/console/cameras/") {
                    if !name.is_empty() && !name.contains('/') {
                        return cameras::show(self, &signed, &path_name(name), &query).await;
                    }
                }
                if let Some(name) = p.strip_prefix("/console/requests/") {
                    if !name.is_empty() && !name.contains('/') {
                        let done = html::pairs(&query)
                            .into_iter()
                            .find(|(k, _)| k == "done")
                            .map(|(_, v)| v);
                        return requests::show(self, &signed, &path_name(name), done.as_deref())
                            .await;
                    }
                }
                not_found(&signed)
            }
        }
    }

    /// The signed-in user of `token`, or the answer for a request without one:
    /// 303 to the sign-in page (the stale cookie removed), or a page saying a
    /// one-time password must be changed first.
    async fn signed_in(&self, token: &str) -> std::result::Result<Signed, Response<Body>> {
        let to_login = |stale: bool| {
            let mut r = redirect("/console/login");
            if stale {
                if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0)) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            r
        };
        if token.is_empty() {
            return Err(to_login(false));
        }
        match self.ctl.authenticate(token).await {
            Ok(actor) => Ok(Signed {
                actor,
                csrf: self.csrf_for(token),
            }),
            Err(Error::FailedPrecondition(msg)) => {
                // A one-time password: only `passwd` (and sign-out) work until it is changed.
                let body = format!(
                    "{}<form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\">Sign out</button></form>",
                    html::message("error", &msg),
                    html::csrf_field(&self.csrf_for(token))
                );
                Err(html_response(
                    StatusCode::FORBIDDEN,
                    html::page("Change your password first", None, &body),
                ))
            }
            Err(e @ Error::Unavailable(_)) => {
                let (status, text) = status_of(&e);
                Err(html_response(
                    status,
                    html::page("Unavailable", None, &html::message("error", &text)),
                ))
            }
            Err(_) => Err(to_login(true)),
        }
    }

    /// Sign-in: `Controller::login`, the client's address as the source.
    async fn login(&self, client: SocketAddr, body: Body) -> Response<Body> {
        let form = match read_form(body).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let user = html::field(&form, "username");
        let password = html::field(&form, "password");
        match self.ctl.login(user, password, Some(client.ip())).await {
            Ok(s) if s.must_change_password => {
                // The session would be refused everywhere but `passwd`: end it.
                if let Ok((actor, _, _)) = self.ctl.session_of(&s.token).await {
                    let _ = self.ctl.logout(&s.token, &actor).await;
                }
                login_page(
                    StatusCode::FORBIDDEN,
                    Some("Your password is one-time: change it first with `camplane passwd`, then sign in here."),
                )
            }
            Ok(s) => {
                let max_age = s
                    .session
                    .expires_at
                    .duration_since(self.ctl.now())
                    .as_secs()
                    .max(0);
                let mut r = redirect("/console/");
                if let Ok(v) = HeaderValue::from_str(&session_cookie(&s.token, max_age)) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            }
            Err(e) => {
                let (status, text) = status_of(&e);
                login_page(status, Some(&text))
            }
        }
    }

    /// Sign-out: the session ends as with `camplane logout` (audited). It
    /// works with a one-time password too, as `logout` does.
    async fn logout(&self, token: &str, body: Body) -> Response<Body> {
        let to_login = || {
            let mut r = redirect("/console/login");
            if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        };
        let Ok((actor, _, _)) = self.ctl.session_of(token).await else {
            return to_login();
        };
        let form = match read_form(body).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let signed = Signed {
            actor,
            csrf: self.csrf_for(token),
        };
        if !self.csrf_ok(token, html::field(&form, "csrf")) {
            return self
                .csrf_refused(&signed, Some(AuditAction::Logout), "/console/logout")
                .await;
        }
        if let Err(e) = self.ctl.logout(token, &signed.actor).await {
            return refused(&signed, &e);
        }
        to_login()
    }

    /// 403 for a POST without the session's CSRF token, audited as a refusal
    /// of the action it asked for (when it named one).
    pub(crate) async fn csrf_refused(
        &self,
        signed: &Signed,
        what: Option<AuditAction>,
        path: &str,
    ) -> Response<Body> {
        let msg = "the form's CSRF token is missing or wrong (reload the page and try again)";
        if let Some(action) = what {
            // A crop's or an alert's path names its read, plate and all: the
            // entry names it as the wing's own refusals do, so the audit log
            // seals it and erases it with the plate data at 30 days.
            let (kind, target): (&str, String) =
                if let Some(id) = path.strip_prefix("/console/crops/") {
                    ("AlprRead", path_name(id.split('?').next().unwrap_or("")))
                } else if let Some(id) = path.strip_prefix("/console/alerts/") {
                    (
                        "Alert",
                        path_name(id.split(['/', '?']).next().unwrap_or("")),
                    )
                } else {
                    ("Console", path.to_string())
                };
            let target: String = target.chars().take(128).collect();
            let mut d = Draft::new(&signed.actor.username, action, kind, &target);
            d.result = format!("refused: {msg}");
            if let Err(e) = self.ctl.audit.record(d).await {
                tracing::warn!(error = %e, "console: CSRF refusal not audited");
            }
        }
        refused(signed, &Error::PermissionDenied(msg.into()))
    }
}

/// A name from a path segment, percent-decoded (`+` stays a plus).
fn path_name(seg: &str) -> String {
    html::url_decode(&seg.replace('+', "%2B"))
}

fn not_found(signed: &Signed) -> Response<Body> {
    refused(signed, &Error::NotFound("no such page".into()))
}

/// The sign-in form, with a message.
fn login_page(status: StatusCode, msg: Option<&str>) -> Response<Body> {
    let mut body = String::new();
    if let Some(m) = msg {
        body.push_str(&html::message("error", m));
    }
    body.push_str(
        "<form class=\"login\" method=\"post\" action=\"/console/login\">\
<label for=\"username\">User name</label>\
<input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
    );
    html_response(status, html::page("Sign in", None, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session cookie sent twice (one planted on a longer path or from a
    /// sibling site) is neither; a cross-origin fetch of the alert stream is
    /// told apart from the console's own.
    #[test]
    fn a_doubled_session_cookie_signs_nobody_in() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; camplane_session=mine"),
        );
        assert_eq!(cookie(&h, "camplane_session"), Some("mine"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("camplane_session=planted"),
        );
        assert_eq!(cookie(&h, "camplane_session"), None);
        let mut f = HeaderMap::new();
        assert!(!fetched_from_elsewhere(&f), "no browser headers");
        f.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!fetched_from_elsewhere(&f));
        f.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(fetched_from_elsewhere(&f));
    }

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped() {
        let c = session_cookie("cpt_x", 60);
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/console",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; camplane_session=cpt_y"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("cpt_y"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let c = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k");
        let t = hex::encode(ring::hmac::sign(&c, b"cpt_a"));
        assert!(ring::hmac::verify(&c, b"cpt_a", &hex::decode(&t).unwrap()).is_ok());
        assert!(ring::hmac::verify(&c, b"cpt_b", &hex::decode(&t).unwrap()).is_err());
    }

    #[test]
    fn a_post_from_another_site_is_cross_site() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7443"));
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:7443"),
        );
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7443"),
        );
        assert!(cross_site(&h));
    }

    #[test]
    fn path_names_keep_plus_signs() {
        assert_eq!(path_name("a+b%20c"), "a+b c");
    }
}
