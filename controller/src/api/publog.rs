//! gRPC service of the public log (case assists, months).

use super::*;

#[tonic::async_trait]
impl pb::public_log_server::PublicLog for Api {
    async fn generate(&self, req: Request<pb::PublicLogRequest>) -> R<pb::PublicLogFiles> {
        let actor = self.actor(&req).await?;
        let month = req.into_inner().month;
        let files = self.ctl.generate_public_log(&actor, &month).await?;
        Ok(Response::new(pb::PublicLogFiles {
            month,
            files: files
                .into_iter()
                .map(|(name, content)| pb::PublicLogFile { name, content })
                .collect(),
        }))
    }

    async fn add_case_assist(&self, req: Request<pb::CaseAssistRequest>) -> R<pb::Object> {
        let actor = self.actor(&req).await?;
        let r = req.into_inner();
        let a = self
            .ctl
            .add_case_assist(
                &actor,
                &r.case_number,
                &r.offense,
                r.arrests,
                Some(r.date.as_str()),
            )
            .await?;
        Ok(Response::new(pb::Object {
            kind: "CaseAssist".into(),
            name: a.date.to_string(),
            json: serde_json::to_vec(&a).map_err(|e| Status::internal(e.to_string()))?,
            revision: 0,
        }))
    }
}
