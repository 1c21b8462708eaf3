//! The audit wing: the monthly report computed from the entries. The log itself
//! (the hash chain every change is committed with) is in [`crate::core::audit`].

pub mod report;

pub use crate::core::audit::{entry_key, AuditEntry, Verification};

use crate::core::auth::{Actor, Operation};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::Result;

/// The most entries one `audit tail` page carries; the CLI pages for more.
pub const TAIL_PAGE_ENTRIES: usize = 1000;

/// What [`Controller::audit_checkpoint_info`] answers.
#[derive(Debug, Clone)]
pub struct CheckpointInfo {
    /// The checkpoint key.
    pub key: camplane_export::checkpoint::Verifier,
    /// The entry hash (hex) at the asked size, if the chain has that entry.
    pub entry_hash: Option<String>,
    /// The chain's length now.
    pub head_seq: u64,
    /// The latest signed checkpoint note.
    pub latest: Option<String>,
}

impl Controller {
    /// Walks the audit chain.
    pub async fn audit_verify(&self, actor: &Actor) -> Result<Verification> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditVerify)
            .await?;
        self.audit.verify().await
    }

    /// What a saved checkpoint of `size` entries is checked against: the
    /// checkpoint key, the chain's entry hash at `size` now, and the latest
    /// checkpoint. Refusals are audited as the chain walk's.
    pub async fn audit_checkpoint_info(&self, actor: &Actor, size: u64) -> Result<CheckpointInfo> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditVerify)
            .await?;
        let key = self.witness_key().await?.verifier()?;
        let (head_seq, _) = self.audit.head().await?;
        Ok(CheckpointInfo {
            key,
            entry_hash: self.chain_hash_at(size).await?,
            head_seq,
            latest: self.latest_checkpoint().await?.map(|c| c.note),
        })
    }

    /// A page of the newest entries before `before` (0: from the head): at most
    /// [`TAIL_PAGE_ENTRIES`] and about [`REPLY_PAGE_BYTES`] of them, oldest
    /// first, and the `before` of the next older page (0: none left).
    ///
    /// [`REPLY_PAGE_BYTES`]: camplane_proto::limits::REPLY_PAGE_BYTES
    pub async fn audit_tail(
        &self,
        actor: &Actor,
        limit: usize,
        before: u64,
    ) -> Result<(Vec<AuditEntry>, u64)> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditTail)
            .await?;
        self.audit
            .page(
                limit.clamp(1, TAIL_PAGE_ENTRIES),
                before,
                camplane_proto::limits::REPLY_PAGE_BYTES,
            )
            .await
    }
}
