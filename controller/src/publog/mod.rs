//! The monthly public log of ALPR use (shared/spec/public-log.md), generated from
//! what the agents report, never typed.
//!
//! Inputs, all written by the controller as reports arrive:
//! - `windows/{YYYY-MM}/{camera}/{start_ms:013}-{agent}-{key}`: every active
//!   window (and amendment) an agent reported, filed under the month (in the
//!   city's time zone) its start falls in, stored in the same transaction as the
//!   report itself, so a resent report is filed once.
//! - `case-assists/{YYYY-MM}/{ms:013}-{rand}`: [`CaseAssist`]s entered by officers.
//! - `publog-dirty/{YYYY-MM}`: a marker put with every window and case assist.
//!
//! The leader publishes: once a month's last day is over in the city's time zone,
//! a dirty month is generated again and stored under `publog/{YYYY-MM}` (with the
//! marker deleted in the same transaction, on the condition that no report came
//! meanwhile). A late report from an agent that was offline marks its month dirty
//! again, so the month is republished and says when its data last changed.
//!
//! Generation is a pure function of the stored data: the same data gives the
//! same bytes (sorted maps, no clock reads; "last updated" is when the newest of
//! the month's records arrived).

mod build;
pub mod portal;
mod publish;
mod readers;
mod render;
#[cfg(test)]
mod tests;

pub use build::*;
pub use publish::*;
pub use readers::*;
pub use render::*;

use crate::alpr::hotlist::{HotlistInfo, SourceInfo};
use crate::core::audit::Draft;
use crate::core::auth::{Actor, Operation};
use crate::core::store::{Compare, Op};
use crate::core::Controller;
use crate::oversight::complaints::ComplaintCounts;
use crate::{Error, Result};
use camplane_config::hotlist::{HitCategory, HotlistSource};
use camplane_config::model::{CameraKind, CameraSpec, CameraStatus, Kind, LocationRecord, Purpose};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Prefix of filed windows.
pub const WINDOWS: &str = "windows/";
/// Prefix of case assists.
pub const ASSISTS: &str = "case-assists/";
/// Prefix of months that changed since they were published.
pub const DIRTY: &str = "publog-dirty/";
/// Prefix of published months.
pub const PUBLISHED: &str = "publog/";

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i16,
    /// Month, 1-12.
    pub month: i8,
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month> {
        let bad = || {
            Error::InvalidArgument(format!(
                "month {:?}: expected YYYY-MM, e.g. 2026-10",
                s.chars().take(20).collect::<String>()
            ))
        };
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1970..=9998).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month holding `t` in `tz`.
    pub fn of(t: Timestamp, tz: &TimeZone) -> Month {
        let d = t.to_zoned(tz.clone()).date();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant in `tz`.
    pub fn start(self, tz: &TimeZone) -> Timestamp {
        local_midnight(self.first_day(), tz)
    }

    /// The first instant after it in `tz`.
    pub fn end(self, tz: &TimeZone) -> Timestamp {
        self.next().start(tz)
    }

    /// Its days.
    pub fn days(self) -> Vec<Date> {
        let first = self.first_day();
        (0..first.days_in_month())
            .filter_map(|i| first.checked_add(jiff::Span::new().days(i)).ok())
            .collect()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

pub(super) fn local_midnight(d: Date, tz: &TimeZone) -> Timestamp {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
