//! gRPC services of placement requests and the placement rules.

use super::*;

/// The most files one layer upload holds (a layer is a few GeoJSON files: the
/// residential layer is two in the city's own data).
const MAX_LAYER_FILES: usize = 64;

#[tonic::async_trait]
impl pb::approvals_server::Approvals for Api {
    async fn submit(&self, req: Request<pb::SubmitRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        #[derive(serde::Deserialize)]
        struct Named {
            #[serde(default)]
            name: String,
            spec: serde_json::Value,
        }
        let named: Named = serde_json::from_slice(&r.json)
            .map_err(|e| Status::invalid_argument(format!("request: {e}")))?;
        let spec_bytes =
            serde_json::to_vec(&named.spec).map_err(|e| Status::internal(e.to_string()))?;
        let spec =
            match camplane_config::manifest::Spec::from_json(Kind::PlacementRequest, &spec_bytes) {
                Ok(camplane_config::manifest::Spec::PlacementRequest(s)) => *s,
                Ok(_) => return Err(Status::internal("kind")),
                Err(e) => return Err(Status::invalid_argument(format!("request spec: {e}"))),
            };
        let spec: PlacementRequestSpec = spec;
        let o = self.ctl.submit_request(&actor, &named.name, spec).await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    async fn act(&self, req: Request<pb::ActRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let as_role = if r.role.is_empty() {
            None
        } else {
            Some(role(&r.role)?)
        };
        let action: crate::approvals::request_machine::Action = r.action.parse()?;
        let o = self
            .ctl
            .act_on_request(&actor, &r.id, action, as_role, &r.comment)
            .await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    async fn show(&self, req: Request<pb::RequestId>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let (o, rev) = self
            .ctl
            .get(&actor, Kind::PlacementRequest, &req.get_ref().id)
            .await?;
        Ok(Response::new(to_pb(&actor, &o, rev)?))
    }
}

pub(crate) fn loaded_to_pb(
    layer: &str,
    l: crate::approvals::placement::Loaded,
) -> Result<pb::LayerVersionInfo, Status> {
    Ok(pb::LayerVersionInfo {
        layer: layer.into(),
        version: l.version.version,
        json: serde_json::to_vec(&l.version).map_err(|e| Status::internal(e.to_string()))?,
        repairs: l.repairs,
        pruned: l.pruned,
    })
}

#[tonic::async_trait]
impl pb::placement_server::Placement for Api {
    async fn load_layer(
        &self,
        req: Request<tonic::Streaming<pb::LayerUpload>>,
    ) -> R<pb::LayerVersionInfo> {
        // Signed in and allowed, from the metadata, before any message is read.
        let actor = self.actor(&req).await?;
        self.ctl
            .require(
                &actor,
                crate::core::auth::Operation::ManagePlacement,
                crate::core::AuditAction::GisLoad,
            )
            .await?;
        let max = self.ctl.config.placement.max_layer_bytes;
        let mut stream = req.into_inner();
        use pb::layer_upload::Part;
        let header = match stream.message().await? {
            Some(pb::LayerUpload {
                part: Some(Part::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "a layer upload starts with its header (layer, repair_polygons)",
                ))
            }
        };
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut total: u64 = 0;
        while let Some(m) = stream.message().await? {
            // What takes the upload over its limits; refused as it arrives:
            // nothing more is read, nothing stored.
            let over = match m.part {
                Some(Part::File(name)) => {
                    // Names and files count too, or a stream of empty files with
                    // long names would grow without bound under the byte limit.
                    total += name.len() as u64;
                    let over = (files.len() >= MAX_LAYER_FILES || total > max).then(|| {
                        format!("at most {MAX_LAYER_FILES} files and placement.max_layer_bytes ({max} bytes) with their names")
                    });
                    files.push((name, Vec::new()));
                    over
                }
                Some(Part::Chunk(bytes)) => {
                    if bytes.len() > camplane_proto::limits::LAYER_CHUNK {
                        return Err(Status::invalid_argument(format!(
                            "a layer chunk holds at most {} bytes, this one {}",
                            camplane_proto::limits::LAYER_CHUNK,
                            bytes.len()
                        )));
                    }
                    let Some((name, data)) = files.last_mut() else {
                        return Err(Status::invalid_argument(
                            "a layer chunk before any file's name",
                        ));
                    };
                    total += bytes.len() as u64;
                    if total > max {
                        Some(format!(
                            "{name} makes the upload more than placement.max_layer_bytes ({max} bytes)"
                        ))
                    } else {
                        data.extend_from_slice(&bytes);
                        None
                    }
                }
                Some(Part::Header(_)) | None => {
                    return Err(Status::invalid_argument(
                        "a layer upload has one header, first",
                    ))
                }
            };
            if let Some(why) = over {
                let msg = format!("layer {}: {why}; nothing was stored", header.layer);
                return Err(self
                    .ctl
                    .refuse(
                        &actor,
                        crate::core::AuditAction::GisLoad,
                        &header.layer,
                        msg,
                    )
                    .await?
                    .into());
            }
        }
        let l = self
            .ctl
            .load_layer(&actor, &header.layer, files, header.repair_polygons)
            .await?;
        Ok(Response::new(loaded_to_pb(&header.layer, l)?))
    }

    async fn apply_rules(&self, req: Request<pb::ApplyRulesRequest>) -> R<pb::LayerVersionInfo> {
        let actor = self.actor(&req).await?;
        let f = req
            .into_inner()
            .file
            .ok_or_else(|| Status::invalid_argument("no rules file"))?;
        let l = self.ctl.apply_rules(&actor, &f.name, f.data).await?;
        Ok(Response::new(loaded_to_pb(
            crate::approvals::placement::RULES,
            l,
        )?))
    }

    async fn list(&self, req: Request<pb::Empty>) -> R<pb::GisListResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.gis_list(&actor).await?;
        Ok(Response::new(pb::GisListResponse {
            json: serde_json::to_vec(&v).map_err(|e| Status::internal(e.to_string()))?,
        }))
    }

    async fn recheck(&self, req: Request<pb::RecheckRequest>) -> R<pb::RecheckResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.recheck(&actor, req.get_ref().all).await?;
        Ok(Response::new(pb::RecheckResponse {
            json: serde_json::to_vec(&v).map_err(|e| Status::internal(e.to_string()))?,
        }))
    }

    async fn map(&self, req: Request<pb::Empty>) -> R<pb::MapResponse> {
        let actor = self.actor(&req).await?;
        let svg = self.ctl.placement_map(&actor).await?;
        Ok(Response::new(pb::MapResponse { svg }))
    }
}
