//! The camera policy in force and its annual review, as stored. The rule of who
//! proposes, who signs for which party and when a version takes effect:
//! [`policy_machine`].
//!
//! Keys: `meta/policy` holds [`PolicyState`] (the version in force, the date
//! of the last review, the review open now, every version proposed). It is
//! under `meta/`, so every controller reads it from its watch-fed cache: the
//! policy checks before a search or a recording's view cost no store read.
//! `oversight/policy/reviews/{version}` hold [`PolicyReview`] (the text, its
//! SHA-256 and the signoffs). Proposing and each signoff are one transaction
//! over both keys with the audit entry; the fifth signoff puts the version in
//! force in the same transaction, so no controller ever sees a version in force
//! without all five signoffs.
//!
//! Until a review has taken effect, the version in force is the controller
//! config's (`city.policy_version`, its text `city.policy_file`), with no
//! review on record: the review is due at once. Once one has, the store's
//! version replaces the config's everywhere (acknowledgements, the checks
//! before searches and views, the portal): every user acknowledges it again.

use crate::core::audit::Draft;
use crate::core::auth::{self, Actor, PolicyText};
use crate::core::store::{KeyValue, Op};
use crate::core::{AuditAction, Controller, KeyChange, KeyStep, KeyWrite};
use crate::oversight::policy_machine::{self, Party, ReviewStage, ReviewState, Signoff};
use crate::{Error, Result};
use base64::Engine;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The policy's state (mirrored by the cache).
pub const STATE: &str = "meta/policy";
/// Prefix of the reviews, one per proposed version.
pub const REVIEWS: &str = "oversight/policy/reviews/";
/// Largest policy text kept (bytes).
pub const MAX_TEXT: usize = 512 * 1024;

/// The version in force once a review took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    /// Its version.
    pub version: String,
    /// The SHA-256 (hex) of its text.
    pub sha256: String,
    /// When its fifth signoff made it take effect.
    pub took_effect_at: Timestamp,
}

/// `meta/policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    /// The version in force (absent: the controller config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_force: Option<InForce>,
    /// When the last review took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_review_at: Option<Timestamp>,
    /// The version under review now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    /// Every version ever proposed, oldest first.
    #[serde(default)]
    pub versions: Vec<String>,
}

/// One review (`oversight/policy/reviews/{version}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReview {
    /// The version reviewed.
    pub version: String,
    /// The SHA-256 (hex) of its text.
    pub sha256: String,
    /// The text, base64 (left out of lists).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text_base64: String,
    /// Its size in bytes.
    pub text_bytes: u64,
    /// Who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: Timestamp,
    /// Where it stands.
    pub stage: ReviewStage,
    /// The parties' signoffs.
    #[serde(default)]
    pub signoffs: BTreeMap<Party, Signoff>,
    /// When it took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_effect_at: Option<Timestamp>,
}

impl PolicyReview {
    /// The parties still to sign.
    pub fn waiting_for(&self) -> Vec<Party> {
        Party::ALL
            .into_iter()
            .filter(|p| !self.signoffs.contains_key(p))
            .collect()
    }

    /// The review without its text (for lists and answers).
    pub fn summary(&self) -> PolicyReview {
        PolicyReview {
            text_base64: String::new(),
            ..self.clone()
        }
    }
}

/// The version in force as everyone sees it, with its review dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// The version users must acknowledge.
    pub version: String,
    /// Its text's SHA-256, where known (the config's file may be unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When it took effect (absent: the config's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_effect_at: Option<Timestamp>,
    /// When the last review took effect (absent: none on record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_review_at: Option<Timestamp>,
    /// When the next review is due (absent: now, none on record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_due: Option<Timestamp>,
    /// Whether the review is overdue now.
    pub review_overdue: bool,
    /// The version under review, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_review: Option<String>,
}

fn review_key(version: &str) -> String {
    format!("{REVIEWS}{version}")
}

fn decode<T: serde::de::DeserializeOwned>(kv: &Option<KeyValue>) -> Result<Option<T>> {
    kv.as_ref()
        .map(|kv| serde_json::from_slice(&kv.value))
        .transpose()
        .map_err(Error::from)
}

impl Controller {
    /// The policy state, from the cache.
    pub fn policy_state(&self) -> PolicyState {
        self.cache
            .get(STATE)
            .and_then(|kv| serde_json::from_slice(&kv.value).ok())
            .unwrap_or_default()
    }

    /// The version users must have acknowledged before searching or viewing.
    pub fn policy_version_in_force(&self) -> String {
        match self.policy_state().in_force {
            Some(f) => f.version,
            None => self.config.city.policy_version.clone(),
        }
    }

    /// The version in force, its review dates and whether a review is overdue
    /// (for the portal, the console, metrics and `policy status`).
    pub fn policy_status(&self) -> PolicyStatus {
        let st = self.policy_state();
        let tz = self.city_tz_or_utc();
        let (version, sha256, took_effect_at) = match &st.in_force {
            Some(f) => (
                f.version.clone(),
                Some(f.sha256.clone()),
                Some(f.took_effect_at),
            ),
            None => (
                self.config.city.policy_version.clone(),
                self.policy_text().ok().map(|p| p.sha256),
                None,
            ),
        };
        PolicyStatus {
            version,
            sha256,
            took_effect_at,
            last_review_at: st.last_review_at,
            review_due: policy_machine::review_due(st.last_review_at, &tz),
            review_overdue: policy_machine::review_overdue(st.last_review_at, self.now(), &tz),
            open_review: st.open,
        }
    }

    /// The policy a user acknowledges: the version in force and its text's
    /// SHA-256 (the stored review's, or `city.policy_file`'s read now).
    pub fn policy_text(&self) -> Result<PolicyText> {
        if let Some(f) = self.policy_state().in_force {
            return Ok(PolicyText {
                file: format!("the text of policy version {} (its review)", f.version),
                version: f.version,
                sha256: f.sha256,
            });
        }
        let Some(file) = &self.config.city.policy_file else {
            return Err(Error::FailedPrecondition(
                "city.policy_file is not set in the controller config: there is no policy text to acknowledge".into(),
            ));
        };
        let bytes = std::fs::read(file)
            .map_err(|e| Error::io(format!("reading city.policy_file {}", file.display()), e))?;
        Ok(PolicyText {
            version: self.config.city.policy_version.clone(),
            sha256: auth::policy_sha256(&bytes),
            file: file.display().to_string(),
        })
    }

    /// `camplane policy propose FILE --version V`: one of the five parties
    /// opens the review of a new text. Audited `policy.propose` (refusals too).
    pub async fn propose_policy(
        &self,
        actor: &Actor,
        version: &str,
        text: &[u8],
    ) -> Result<PolicyReview> {
        // The role and the version's name first, before the store is read.
        if let Err(r) = policy_machine::propose(actor, version, &[], None) {
            return Err(self.record_refusal(r).await);
        }
        if text.is_empty() || text.len() > MAX_TEXT {
            return Err(Error::InvalidArgument(format!(
                "the policy text (FILE) is {} bytes; it must be 1 to {MAX_TEXT}",
                text.len()
            )));
        }
        let now = self.now();
        let sha256 = auth::policy_sha256(text);
        let rkey = review_key(version);
        let text_base64 = base64::engine::general_purpose::STANDARD.encode(text);
        self.update_keys(&[STATE, &rkey], |kvs| {
            let st: PolicyState = decode(&kvs[0])?.unwrap_or_default();
            let mut known: Vec<&str> = st.versions.iter().map(String::as_str).collect();
            if let Some(f) = &st.in_force {
                known.push(&f.version);
            }
            if kvs[1].is_some() {
                known.push(version);
            }
            policy_machine::propose(actor, version, &known, st.open.as_deref())?;
            let review = PolicyReview {
                version: version.to_string(),
                sha256: sha256.clone(),
                text_base64: text_base64.clone(),
                text_bytes: text.len() as u64,
                proposed_by: actor.username.clone(),
                proposed_at: now,
                stage: ReviewStage::Open,
                signoffs: BTreeMap::new(),
                took_effect_at: None,
            };
            let mut st = st;
            st.open = Some(version.to_string());
            st.versions.push(version.to_string());
            let mut d = Draft::new(
                &actor.username,
                AuditAction::PolicyPropose,
                "Policy",
                version,
            );
            d.details = serde_json::json!({
                "version": version, "sha256": sha256, "bytes": text.len(),
                "in_force": st.in_force.as_ref().map(|f| f.version.clone()),
            });
            let change = KeyChange {
                value: KeyWrite::Put(serde_json::to_vec(&st)?),
                draft: d,
                ops: vec![Op::Put(rkey.clone(), serde_json::to_vec(&review)?)],
                staged: vec![],
            };
            Ok(KeyStep::Write(Box::new(change), review.summary()))
        })
        .await
    }

    /// `camplane policy signoff V [--as PARTY]`: a party signs the proposed
    /// version off; the fifth signoff puts it in force in the same transaction.
    /// Audited `policy.signoff` (refusals too).
    pub async fn signoff_policy(
        &self,
        actor: &Actor,
        version: &str,
        as_party: &str,
    ) -> Result<PolicyReview> {
        let as_party = match as_party.trim() {
            "" => None,
            p => Some(Party::parse(p).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "--as {:?}: one of police, engineering, information_services, city_attorney, city_manager",
                    p.chars().take(40).collect::<String>()
                ))
            })?),
        };
        if !policy_machine::valid_version(version) {
            // Never looked up; the role is still checked first.
            let r = match policy_machine::signoff(actor, version, None, as_party) {
                Err(r) => r,
                Ok(_) => unreachable!("a signoff of no review is refused"),
            };
            return Err(self.record_refusal(r).await);
        }
        let now = self.now();
        let rkey = review_key(version);
        self.update_keys(&[STATE, &rkey], |kvs| {
            let st: PolicyState = decode(&kvs[0])?.unwrap_or_default();
            let review: Option<PolicyReview> = decode(&kvs[1])?;
            let state = review.as_ref().map(|r| ReviewState {
                version: &r.version,
                stage: r.stage,
                signoffs: &r.signoffs,
            });
            let t = policy_machine::signoff(actor, version, state, as_party)?;
            let Some(mut review) = review else {
                return Err(Error::NotFound(format!("policy review {version}")).into());
            };
            review.signoffs.insert(
                t.party,
                Signoff {
                    by: actor.username.clone(),
                    at: now,
                },
            );
            let mut st = st;
            if t.takes_effect {
                review.stage = ReviewStage::InForce;
                review.took_effect_at = Some(now);
                st.in_force = Some(InForce {
                    version: review.version.clone(),
                    sha256: review.sha256.clone(),
                    took_effect_at: now,
                });
                st.last_review_at = Some(now);
                st.open = None;
            }
            let mut d = Draft::new(
                &actor.username,
                AuditAction::PolicySignoff,
                "Policy",
                version,
            );
            d.details = serde_json::json!({
                "version": version, "party": t.party, "sha256": review.sha256,
                "took_effect": t.takes_effect,
                "waiting_for": review.waiting_for(),
            });
            let change = KeyChange {
                value: KeyWrite::Put(serde_json::to_vec(&st)?),
                draft: d,
                ops: vec![Op::Put(rkey.clone(), serde_json::to_vec(&review)?)],
                staged: vec![],
            };
            Ok(KeyStep::Write(Box::new(change), review.summary()))
        })
        .await
    }

    /// `camplane policy reviews`: every review, newest first, without texts
    /// (any signed-in user: the policy is public).
    pub async fn policy_reviews(&self) -> Result<Vec<PolicyReview>> {
        let l = self.store.list(REVIEWS).await?;
        let mut v: Vec<PolicyReview> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<PolicyReview>(&kv.value).ok())
            .map(|r| r.summary())
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.proposed_at));
        Ok(v)
    }
}
