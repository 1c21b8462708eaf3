//! gRPC service of the audit log.

use super::*;

#[tonic::async_trait]
impl pb::audit_server::Audit for Api {
    async fn verify(&self, req: Request<pb::Empty>) -> R<pb::VerifyResponse> {
        let actor = self.actor(&req).await?;
        let v = self.ctl.audit_verify(&actor).await?;
        Ok(Response::new(pb::VerifyResponse {
            ok: v.first_broken.is_none(),
            entries: v.entries,
            first_broken_seq: v.first_broken.unwrap_or(0),
            message: v.message,
        }))
    }

    async fn checkpoint(&self, req: Request<pb::CheckpointRequest>) -> R<pb::CheckpointResponse> {
        let actor = self.actor(&req).await?;
        let i = self
            .ctl
            .audit_checkpoint_info(&actor, req.get_ref().size)
            .await?;
        Ok(Response::new(pb::CheckpointResponse {
            key_name: i.key.name.clone(),
            public_key: i.key.public_key.to_vec(),
            found: i.entry_hash.is_some(),
            entry_hash: i.entry_hash.unwrap_or_default(),
            head_seq: i.head_seq,
            latest: i.latest.unwrap_or_default(),
        }))
    }

    async fn tail(&self, req: Request<pb::TailRequest>) -> R<pb::AuditEntries> {
        let actor = self.actor(&req).await?;
        let limit = req.get_ref().limit.max(1) as usize;
        let (entries, next_before) = self
            .ctl
            .audit_tail(&actor, limit, req.get_ref().before_seq)
            .await?;
        let entries = entries
            .into_iter()
            .map(|e| {
                Ok(pb::AuditEntry {
                    seq: e.seq,
                    json: serde_json::to_vec(&e).map_err(|e| Status::internal(e.to_string()))?,
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(pb::AuditEntries {
            entries,
            next_before,
        }))
    }
}
