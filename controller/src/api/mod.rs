//! gRPC services: translation between the wire and [`Controller`] only.

mod alpr;
mod approvals;
mod audit;
mod fleet;
pub mod governance;
pub mod http;
pub mod masks;
mod oversight;
pub mod peer;
mod publog;
pub mod recordings;
mod registry;
pub mod signed_in;
pub mod viewing;

pub(crate) use alpr::{search_pb, search_timeout};
pub use fleet::FleetApi;

use crate::core::auth::Actor;
use crate::core::{Controller, StoredObject};
use camplane_config::model::{Kind, PlacementRequestSpec, Role, UserSpec};
use camplane_proto::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The services over one controller.
#[derive(Clone)]
pub struct Api {
    pub(crate) ctl: Arc<Controller>,
}

type R<T> = Result<Response<T>, Status>;

impl Api {
    /// Wraps a controller.
    pub fn new(ctl: Arc<Controller>) -> Api {
        Api { ctl }
    }

    fn token<T>(req: &Request<T>) -> Result<String, Status> {
        Self::bearer(req).map(str::to_string)
    }

    /// The bearer token of a request, borrowed from its metadata.
    fn bearer<T>(req: &Request<T>) -> Result<&str, Status> {
        let v = req.metadata().get("authorization").ok_or_else(|| {
            Status::unauthenticated("sign in first: `camplane login` (no authorization header)")
        })?;
        let s = v
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let t = s
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer TOKEN`"))?;
        Ok(t.trim())
    }

    pub(crate) async fn actor<T>(&self, req: &Request<T>) -> Result<Actor, Status> {
        Ok(self.ctl.authenticate(Self::bearer(req)?).await?)
    }

    /// All services, ready to add to a tonic server. Each takes requests up to a
    /// size fitted to what it carries; tonic refuses a bigger one on its length
    /// prefix, before the message is read.
    pub fn routes(self) -> tonic::service::Routes {
        use camplane_proto::limits::{AUTH_MAX_MESSAGE, DEFAULT_MAX_MESSAGE as DEFAULT};
        tonic::service::Routes::new(
            pb::auth_server::AuthServer::new(self.clone())
                .max_decoding_message_size(AUTH_MAX_MESSAGE),
        )
        .add_service(
            pb::objects_server::ObjectsServer::new(self.clone()).max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::approvals_server::ApprovalsServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::cameras_server::CamerasServer::new(self.clone()).max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::users_server::UsersServer::new(self.clone())
                .max_decoding_message_size(AUTH_MAX_MESSAGE),
        )
        .add_service(
            pb::placement_server::PlacementServer::new(self.clone())
                .max_decoding_message_size(camplane_proto::limits::PLACEMENT_MAX_REQUEST)
                .max_encoding_message_size(camplane_proto::limits::PLACEMENT_MAX_RESPONSE),
        )
        .add_service(
            pb::holds_server::HoldsServer::new(self.clone()).max_decoding_message_size(DEFAULT),
        )
        // Hotlist files are large: the caller is signed in before the body is
        // read, and a file over one chunk is streamed (Upload); a unary Load
        // that is too large is told so.
        .add_service(
            signed_in::SignedInFirst::new(
                self.ctl.clone(),
                pb::hotlists_server::HotlistsServer::new(self.clone())
                    .max_decoding_message_size(camplane_proto::limits::HOTLIST_MAX_MESSAGE),
            )
            .too_large("/camplane.v1.Hotlists/Load", || alpr::load_too_large(None)),
        )
        .add_service(
            pb::alerts_server::AlertsServer::new(self.clone()).max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::alpr_server::AlprServer::new(self.clone()).max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::public_log_server::PublicLogServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::complaints_server::ComplaintsServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::records_requests_server::RecordsRequestsServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::maintenance_server::MaintenanceServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::policy_review_server::PolicyReviewServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::compliance_server::ComplianceServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        // governance
        .add_service(
            pb::alpr_approvals_server::AlprApprovalsServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::alert_review_server::AlertReviewServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(
            pb::audit_reports_server::AuditReportsServer::new(self.clone())
                .max_decoding_message_size(DEFAULT),
        )
        .add_service(pb::audit_server::AuditServer::new(self).max_decoding_message_size(DEFAULT))
    }
}

/// An object as a reply carries it: every reply goes through the reader's view
/// (`registry::views::shown_to`), so no door shows a covert camera's location
/// or a stream's credentials that `get` would hide.
fn to_pb(actor: &Actor, o: &StoredObject, revision: i64) -> Result<pb::Object, Status> {
    let o = crate::registry::views::shown_to(actor, o.clone());
    Ok(pb::Object {
        kind: o.kind.clone(),
        name: o.name.clone(),
        json: serde_json::to_vec(&o).map_err(|e| Status::internal(e.to_string()))?,
        revision,
    })
}

fn kind(s: &str) -> Result<Kind, Status> {
    Kind::parse(s).ok_or_else(|| {
        Status::invalid_argument(format!(
            "unknown kind {s:?} (Site, Department, Camera, PlacementRequest, User, FeeSchedule)"
        ))
    })
}

fn role(s: &str) -> Result<Role, Status> {
    Role::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        Status::invalid_argument(format!("unknown role {s:?} (one of {})", all.join(", ")))
    })
}

pub(crate) fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))
}

fn since(s: &str) -> Result<Option<jiff::Timestamp>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("--since {s:?}: {e}")))
}

type AlertStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::Object, Status>> + Send>>;
