//! gRPC services of the registry: sign-in, objects, cameras, users, holds.

use super::*;
use crate::registry::grant_machine::{Decision, RoleGrant};
use crate::registry::users::PolicyText;

#[tonic::async_trait]
impl pb::auth_server::Auth for Api {
    async fn login(&self, req: Request<pb::LoginRequest>) -> R<pb::LoginResponse> {
        let source = req.remote_addr().map(|a| a.ip());
        let r = req.into_inner();
        let s = self.ctl.login(&r.username, &r.password, source).await?;
        Ok(Response::new(pb::LoginResponse {
            token: s.token,
            expires_at: s.session.expires_at.to_string(),
            roles: s.roles.iter().map(|r| r.as_str().to_string()).collect(),
            username: s.session.username,
            must_change_password: s.must_change_password,
        }))
    }

    async fn logout(&self, req: Request<pb::Empty>) -> R<pb::Empty> {
        // Signing out works with a one-time password too.
        let token = Self::token(&req)?;
        let (actor, _, _) = self.ctl.session_of(&token).await?;
        self.ctl.logout(&token, &actor).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn change_password(&self, req: Request<pb::ChangePasswordRequest>) -> R<pb::Empty> {
        let token = Self::token(&req)?;
        let source = req.remote_addr().map(|a| a.ip());
        let r = req.into_inner();
        self.ctl
            .change_password(&token, &r.old_password, &r.new_password, source)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn who_am_i(&self, req: Request<pb::Empty>) -> R<pb::LoginResponse> {
        let a = self.actor(&req).await?;
        Ok(Response::new(pb::LoginResponse {
            token: String::new(),
            expires_at: String::new(),
            roles: a.roles.iter().map(|r| r.as_str().to_string()).collect(),
            username: a.username,
            must_change_password: false,
        }))
    }
}

#[tonic::async_trait]
impl pb::objects_server::Objects for Api {
    async fn apply(&self, req: Request<pb::ApplyRequest>) -> R<pb::ApplyResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let mut items = Vec::with_capacity(r.objects.len());
        for o in r.objects {
            let Some(k) = camplane_config::model::Kind::parse(&o.kind) else {
                return Err(self
                    .ctl
                    .refuse_unknown_kind(&actor, &o.kind, &o.name)
                    .await
                    .into());
            };
            items.push((k, o.name, o.json));
        }
        let res = self.ctl.apply(&actor, items, &r.source).await?;
        Ok(Response::new(pb::ApplyResponse {
            results: res
                .into_iter()
                .map(|a| pb::ApplyResult {
                    kind: a.kind.as_str().into(),
                    name: a.name,
                    action: a.action.into(),
                })
                .collect(),
        }))
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let k = kind(&r.kind)?;
        if !r.name.is_empty() {
            let kv = self.ctl.get_raw(&actor, k, &r.name).await?;
            let object = pb::Object {
                kind: k.as_str().into(),
                name: r.name,
                json: kv.value.to_vec(),
                revision: kv.mod_revision,
            };
            return Ok(Response::new(pb::ObjectList {
                objects: vec![object],
                next_after: String::new(),
            }));
        }
        // A list comes in pages under REPLY_PAGE_BYTES, in name order (#22),
        // each object parsed only when its page takes it.
        let mut failed = None;
        let objs = self
            .ctl
            .get_after(&actor, k, &r.after)
            .await?
            .map_while(|r| {
                match r
                    .map_err(Status::from)
                    .and_then(|(o, rev)| to_pb(&actor, &o, rev))
                {
                    Ok(o) => Some(o),
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                }
            });
        let (objects, next_after) = crate::core::page::page(
            objs,
            "",
            |o| o.name.as_str(),
            |o| o.kind.len() + o.name.len() + o.json.len(),
            camplane_proto::limits::REPLY_PAGE_BYTES,
        );
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(Response::new(pb::ObjectList {
            objects,
            next_after,
        }))
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> R<pb::Empty> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        self.ctl.delete(&actor, kind(&r.kind)?, &r.name).await?;
        Ok(Response::new(pb::Empty {}))
    }
}

#[tonic::async_trait]
impl pb::cameras_server::Cameras for Api {
    async fn transition(&self, req: Request<pb::CameraAction>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let action: crate::registry::camera_machine::Action = r.action.parse()?;
        let o = self
            .ctl
            .camera_transition(&actor, &r.name, action, &r.reason)
            .await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    async fn set_credentials(&self, req: Request<pb::CameraCredentialsRequest>) -> R<pb::Empty> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let creds = crate::core::secrets::CameraCredentials {
            username: r.username,
            password: r.password,
        };
        self.ctl
            .set_camera_credentials(&actor, &r.camera, creds)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }
}

/// Pending grants on the wire: the id and the stored record as JSON.
fn role_grants(grants: &[RoleGrant]) -> Result<Vec<pb::RoleGrant>, Status> {
    grants
        .iter()
        .map(|g| {
            Ok(pb::RoleGrant {
                id: g.id.clone(),
                json: serde_json::to_vec(g).map_err(|e| Status::internal(e.to_string()))?,
            })
        })
        .collect()
}

fn policy_info(p: PolicyText) -> pb::PolicyInfo {
    pb::PolicyInfo {
        version: p.version,
        sha256: p.sha256,
        file: p.file,
    }
}

#[tonic::async_trait]
impl pb::users_server::Users for Api {
    async fn add(&self, req: Request<pb::AddUserRequest>) -> R<pb::AddUserResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
            spec: serde_json::Value,
        }
        let named: Named = serde_json::from_slice(&r.json)
            .map_err(|e| Status::invalid_argument(format!("user: {e}")))?;
        let bytes = serde_json::to_vec(&named.spec).map_err(|e| Status::internal(e.to_string()))?;
        let spec: UserSpec = match camplane_config::manifest::Spec::from_json(Kind::User, &bytes) {
            Ok(camplane_config::manifest::Spec::User(u)) => u,
            Ok(_) => return Err(Status::internal("kind")),
            Err(e) => return Err(Status::invalid_argument(format!("user spec: {e}"))),
        };
        let pw = (!r.password.is_empty()).then_some(r.password);
        let (o, otp, grants) = self.ctl.add_user(&actor, &named.name, spec, pw).await?;
        Ok(Response::new(pb::AddUserResponse {
            user: Some(to_pb(&actor, &o, 0)?),
            one_time_password: otp.unwrap_or_default(),
            pending_grants: role_grants(&grants)?,
        }))
    }

    async fn reset_password(
        &self,
        req: Request<pb::ResetPasswordRequest>,
    ) -> R<pb::ResetPasswordResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let pw = (!r.password.is_empty()).then_some(r.password);
        let otp = self.ctl.reset_password(&actor, &r.username, pw).await?;
        Ok(Response::new(pb::ResetPasswordResponse {
            one_time_password: otp.unwrap_or_default(),
        }))
    }

    async fn grant(&self, req: Request<pb::GrantRequest>) -> R<pb::GrantResponse> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let roles = r
            .roles
            .iter()
            .map(|s| role(s))
            .collect::<Result<Vec<_>, _>>()?;
        let (o, grants) = self
            .ctl
            .grant(&actor, &r.username, &roles, r.revoke)
            .await?;
        Ok(Response::new(pb::GrantResponse {
            user: Some(to_pb(&actor, &o, 0)?),
            pending_grants: role_grants(&grants)?,
        }))
    }

    async fn list_grants(&self, req: Request<pb::Empty>) -> R<pb::RoleGrants> {
        let actor = self.actor(&req).await?;
        let grants = self.ctl.pending_grants(&actor).await?;
        Ok(Response::new(pb::RoleGrants {
            grants: role_grants(&grants)?,
        }))
    }

    async fn decide_grant(&self, req: Request<pb::DecideGrantRequest>) -> R<pb::RoleGrant> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let decision = if r.confirm {
            Decision::Confirm
        } else {
            Decision::Reject(&r.reason)
        };
        let g = self.ctl.decide_grant(&actor, &r.id, decision).await?;
        Ok(Response::new(
            role_grants(std::slice::from_ref(&g))?.remove(0),
        ))
    }

    async fn policy(&self, req: Request<pb::Empty>) -> R<pb::PolicyInfo> {
        self.actor(&req).await?;
        Ok(Response::new(policy_info(self.ctl.policy_text()?)))
    }

    async fn acknowledge_policy(
        &self,
        req: Request<pb::AcknowledgePolicyRequest>,
    ) -> R<pb::PolicyInfo> {
        let token = Self::token(&req)?;
        let source = req.remote_addr().map(|a| a.ip());
        let r = req.into_inner();
        let p = self
            .ctl
            .acknowledge_policy(&token, &r.password, &r.version, &r.sha256, source)
            .await?;
        Ok(Response::new(policy_info(p)))
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> R<pb::ObjectList> {
        let actor = self.actor(&req).await?;
        let objs = self.ctl.get_all(&actor, Kind::User).await?;
        let objects = objs
            .iter()
            .map(|(o, rev)| to_pb(&actor, o, *rev))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(super::fleet::object_page(
            objects,
            &req.get_ref().after,
        )))
    }
}

#[tonic::async_trait]
impl pb::holds_server::Holds for Api {
    async fn create(&self, req: Request<pb::SubmitRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let spec = match camplane_config::manifest::Spec::from_json(
            Kind::LegalHold,
            &req.get_ref().json,
        ) {
            Ok(camplane_config::manifest::Spec::LegalHold(h)) => *h,
            Ok(_) => return Err(Status::internal("kind")),
            Err(e) => return Err(Status::invalid_argument(format!("hold: {e}"))),
        };
        let o = self.ctl.create_hold(&actor, spec).await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }

    async fn release(&self, req: Request<pb::HoldName>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let o = self.ctl.release_hold(&actor, &req.get_ref().name).await?;
        Ok(Response::new(to_pb(&actor, &o, 0)?))
    }
}
