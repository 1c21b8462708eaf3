//! The audit wing: the monthly report computed from the entries. The log itself
//! (the hash chain every change is committed with) is in [`crate::core::audit`].

pub mod report;

pub use crate::core::audit::{entry_key, AuditEntry, Verification};

use crate::core::auth::{Actor, Operation};
use crate::core::AuditAction;
use crate::core::Controller;
use crate::Result;

impl Controller {
    /// Walks the audit chain.
    pub async fn audit_verify(&self, actor: &Actor) -> Result<Verification> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditVerify)
            .await?;
        self.audit.verify().await
    }

    /// The last entries.
    pub async fn audit_tail(&self, actor: &Actor, limit: usize) -> Result<Vec<AuditEntry>> {
        self.require(actor, Operation::ReadAudit, AuditAction::AuditTail)
            .await?;
        self.audit.tail(limit.clamp(1, 10_000)).await
    }
}
