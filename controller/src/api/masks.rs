//! gRPC service of privacy masks: the chief's lift of a camera's masks for one
//! user. Translation only; the rule is `viewing/masks.rs`.

use crate::api::{json_bytes, Api};
use crate::viewing::masks::LiftRequest;
use camplane_proto::v1 as pb;
use tonic::{Request, Response, Status};

/// The Masks service.
#[derive(Clone)]
pub struct MasksApi {
    api: Api,
}

impl MasksApi {
    /// Wraps the API.
    pub fn new(api: Api) -> MasksApi {
        MasksApi { api }
    }
}

#[tonic::async_trait]
impl pb::masks_server::Masks for MasksApi {
    async fn lift(
        &self,
        req: Request<pb::MaskLiftRequest>,
    ) -> Result<Response<pb::Object>, Status> {
        let actor = self.api.actor(&req).await?;
        let r = req.into_inner();
        let lift = self
            .api
            .ctl
            .lift_masks(
                &actor,
                &LiftRequest {
                    user: r.user,
                    camera: r.camera,
                    minutes: r.minutes,
                    reason: r.reason,
                },
            )
            .await?;
        Ok(Response::new(pb::Object {
            kind: "MaskLift".into(),
            name: lift.key(),
            json: json_bytes(&lift)?,
            revision: 0,
        }))
    }
}
