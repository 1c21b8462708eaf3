//! Legal holds: who may place and release them, and the holds in force.

use crate::core::auth::Actor;
use crate::core::object::{json, Change, Step, StoredObject};
use crate::core::Controller;
use crate::registry::hold_machine::{self, Action, Stage};
use crate::{Error, Result};
use camplane_config::manifest::Spec;
use camplane_config::model::*;

impl Controller {
    /// Places a legal hold. The Chief of Police places holds for criminal
    /// investigations and court proceedings, the City Manager for other bona fide
    /// uses (the rule: [`hold_machine::next`]); the case number must match the
    /// city's format.
    pub async fn create_hold(&self, actor: &Actor, spec: LegalHoldSpec) -> Result<StoredObject> {
        let state = hold_machine::State {
            reason: spec.reason,
            stage: Stage::New,
        };
        let t = match hold_machine::next(&state, Action::Place, actor) {
            Ok(t) => t,
            Err(r) => return Err(self.record_refusal(r).await),
        };
        let re = regex::Regex::new(&self.config.city.case_number_format)
            .map_err(|e| Error::Internal(format!("case number format: {e}")))?;
        if spec.case_number.len() > 64 || !re.is_match(&spec.case_number) {
            return Err(Error::InvalidArgument(format!(
                "case number {:?} does not match the city's format {}",
                spec.case_number.chars().take(64).collect::<String>(),
                self.config.city.case_number_format
            )));
        }
        let problems = Spec::LegalHold(Box::new(spec.clone())).validate();
        if !problems.is_empty() {
            return Err(Error::InvalidArgument(
                problems
                    .into_iter()
                    .map(|(p, m)| format!("{p}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        for c in &spec.cameras {
            if self.load(Kind::Camera, c).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "camera {c:?} does not exist"
                )));
            }
        }
        let name = format!(
            "hold-{}-{}",
            spec.case_number
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
            hex::encode(rand::random::<[u8; 3]>())
        );
        let obj = StoredObject {
            kind: Kind::LegalHold.as_str().into(),
            name: name.clone(),
            spec: json(&spec),
            status: json(&LegalHoldStatus {
                placed_by: actor.username.clone(),
                placed_at: Some(self.clock.now()),
                released_by: None,
                released_at: None,
            }),
        };
        if !self
            .write(
                actor,
                t.audit,
                None,
                &obj,
                0,
                serde_json::json!({"case_number": spec.case_number, "reason": spec.reason}),
            )
            .await?
        {
            return Err(Error::Conflict("hold name collision; try again".into()));
        }
        Ok(obj)
    }

    /// Releases a hold: what it kept becomes eligible for deletion at the next sweep.
    pub async fn release_hold(&self, actor: &Actor, name: &str) -> Result<StoredObject> {
        self.update(Kind::LegalHold, name, |old| {
            let old = old.ok_or_else(|| Error::NotFound(format!("LegalHold {name:?}")))?;
            let spec: LegalHoldSpec = old.spec_as()?;
            let mut st: LegalHoldStatus = old.status_as();
            let state = hold_machine::State {
                reason: spec.reason,
                stage: if st.released_at.is_some() {
                    Stage::Released
                } else {
                    Stage::InForce
                },
            };
            let t = hold_machine::next(&state, Action::Release, actor)?;
            if !t.write {
                return Ok(Step::Keep(old.clone()));
            }
            st.released_at = Some(self.clock.now());
            st.released_by = Some(actor.username.clone());
            let mut new = old.clone();
            new.status = json(&st);
            let details = serde_json::json!({"case_number": spec.case_number});
            let change = Change::put(&actor.username, t.audit, new.clone(), details);
            Ok(Step::Write(Box::new(change), new))
        })
        .await
    }

    /// Holds in force (not released).
    pub fn active_holds(&self) -> Result<Vec<LegalHoldSpec>> {
        let mut out = Vec::new();
        for (h, _) in self.list(Kind::LegalHold)? {
            let st: LegalHoldStatus = h.status_as();
            if st.released_at.is_none() {
                out.push(h.spec_as()?);
            }
        }
        Ok(out)
    }
}
