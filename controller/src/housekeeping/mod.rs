//! Work the controller does on its own schedule: named jobs, each with its own
//! interval, run by one loop. Leader-only jobs run on the elected controller
//! only (with the embedded store there is one, and it leads).

pub mod checkpoint;
pub mod retention;

use crate::core::events::JobFailed;
use crate::core::leader::Leadership;
use crate::core::Controller;
use crate::Result;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// One job of the housekeeping loop.
pub struct Job {
    /// Its name, in logs.
    pub name: &'static str,
    /// Runs every this many ticks of the loop (tick 0 included).
    pub every_ticks: u64,
    /// Runs on the leader only.
    pub leader_only: bool,
    run: for<'a> fn(&'a Controller) -> BoxFuture<'a, Result<()>>,
}

/// The jobs, in the order they run within a tick.
pub const JOBS: &[Job] = &[
    Job {
        name: "reconcile",
        every_ticks: 1,
        leader_only: true,
        run: reconcile,
    },
    // The 7-day rule reads every agent's health: once a minute is plenty.
    Job {
        name: "non-operational",
        every_ticks: 60,
        leader_only: true,
        run: non_operational,
    },
    // ALPR alerts past 30 days (unless held), old report keys.
    Job {
        name: "retention",
        every_ticks: 300,
        leader_only: true,
        run: retention,
    },
    // Case-bound hotlists past their expiry: their entries removed. Sessions
    // stop sending them at the expiry itself (`Controller::hotlists`).
    Job {
        name: "hotlist-lapse",
        every_ticks: 5,
        leader_only: true,
        run: hotlist_lapse,
    },
    // Months that are over and changed since they were published.
    Job {
        name: "publish",
        every_ticks: 5,
        leader_only: true,
        run: publish,
    },
    // Viewing sessions whose controller died without ending them: ended, audited.
    Job {
        name: "viewing-orphans",
        every_ticks: 30,
        leader_only: true,
        run: viewing_orphans,
    },
    // A signed checkpoint of the audit chain when the lead begins, then hourly
    // by the injected clock (the job only looks at the clock when none is due).
    Job {
        name: "audit-checkpoint",
        every_ticks: 1,
        leader_only: true,
        run: audit_checkpoint,
    },
];

fn reconcile(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.reconcile().await.map(drop) })
}

fn viewing_orphans(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.end_orphaned_sessions().await.map(drop) })
}

fn non_operational(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.flag_non_operational().await.map(drop) })
}

fn retention(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.sweep_retention().await.map(drop) })
}

fn hotlist_lapse(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.lapse_hotlists().await.map(drop) })
}

fn audit_checkpoint(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.checkpoint_if_due().await.map(drop) })
}

fn publish(c: &Controller) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move { c.publish_due().await.map(drop) })
}

/// Runs [`JOBS`] every `every` until cancelled. Ticks are counted while this
/// controller leads, so a new leader runs every job at once.
pub async fn run(
    ctl: Arc<Controller>,
    every: std::time::Duration,
    leader: Leadership,
    cancel: CancellationToken,
) {
    let mut ticks = 0u64;
    let mut was_leading = false;
    loop {
        let leading = *leader.borrow();
        if leading && !was_leading {
            ctl.wing::<checkpoint::LeadTerm>().begin();
        }
        was_leading = leading;
        for job in JOBS {
            if (leading || !job.leader_only) && ticks.is_multiple_of(job.every_ticks) {
                if let Err(e) = (job.run)(&ctl).await {
                    ctl.emit(JobFailed {
                        job: job.name,
                        error: &e,
                    });
                }
            }
        }
        if leading {
            ticks += 1;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
