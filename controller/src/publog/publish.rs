//! What the controller stores and publishes: case assists, filed windows, months.

use super::*;
use crate::core::{AuditAction, KeyChange, KeyStep};

/// What one month's publishing pass came to.
enum Publish {
    /// Stored as this edition.
    Published(u32),
    /// The files are what is published already.
    Unchanged,
    /// A report marked the month again meanwhile: the next pass publishes it.
    MarkedAgain,
}

/// A published month as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// `YYYY-MM`.
    pub month: String,
    /// When the data last changed (city time, to the minute).
    pub last_updated: Option<String>,
    /// When this controller published it.
    pub published_at: Timestamp,
    /// How many times it was published (1 the first time).
    pub edition: u32,
    /// Files by name.
    pub files: BTreeMap<String, String>,
}

/// Validates an offence code: lower-case words joined by `_`.
pub(super) fn check_offense(o: &str) -> Result<()> {
    if o.len() < 2
        || o.len() > 48
        || !o.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        || o.starts_with('_')
    {
        return Err(Error::InvalidArgument(format!(
            "--offense {:?}: a short code of lower-case letters and _, e.g. vehicle_theft",
            o.chars().take(48).collect::<String>()
        )));
    }
    Ok(())
}

impl Controller {
    fn city_tz(&self) -> Result<TimeZone> {
        TimeZone::get(&self.config.city.time_zone).map_err(|e| {
            Error::Internal(format!(
                "city.time_zone {:?}: {e}",
                self.config.city.time_zone
            ))
        })
    }

    /// The city's time zone (the config was checked at start).
    pub fn time_zone(&self) -> TimeZone {
        self.city_tz().unwrap_or(TimeZone::UTC)
    }

    /// Everything a month's log is made from, read from the store.
    pub async fn month_input(&self, month: Month) -> Result<MonthInput> {
        let tz = self.city_tz()?;
        // Readers and their places come from their own history, which outlives
        // the camera records (a retired reader's deleted record included).
        let readers = self.reader_infos().await?;
        let known: std::collections::BTreeSet<&str> =
            readers.iter().map(|r| r.camera.as_str()).collect();
        let mut not_readers = std::collections::BTreeSet::new();
        for (o, _) in self.list(Kind::Camera)? {
            if !known.contains(o.name.as_str()) {
                not_readers.insert(o.name.clone());
            }
        }
        let l = self.store.list(&format!("{WINDOWS}{month}/")).await?;
        let mut windows = Vec::with_capacity(l.kvs.len());
        for kv in &l.kvs {
            match serde_json::from_slice::<FiledWindow>(&kv.value) {
                Ok(w) => windows.push(w),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable filed window skipped")
                }
            }
        }
        let l = self.store.list(&format!("{ASSISTS}{month}/")).await?;
        let mut assists = Vec::with_capacity(l.kvs.len());
        for kv in &l.kvs {
            if let Ok(a) = serde_json::from_slice::<CaseAssist>(&kv.value) {
                assists.push(a);
            }
        }
        let checkpoint = self
            .month_checkpoint(&month.to_string())
            .await?
            .map(|c| c.note);
        let complaints = crate::oversight::complaints::ComplaintCounts::of(
            &self.all_complaints().await?,
            month.start(&tz),
            month.end(&tz),
        );
        Ok(MonthInput {
            complaints,
            checkpoint,
            city: self.config.city.name.clone(),
            tz,
            tz_name: self.config.city.time_zone.clone(),
            month,
            readers,
            not_readers,
            windows,
            hotlists: self.all_hotlists(),
            sources: self.hotlist_sources(),
            assists,
        })
    }

    /// Generates a month's log for a signed-in user (audited). A month that is
    /// not over yet in the city's time zone is refused: its figures would change.
    pub async fn generate_public_log(
        &self,
        actor: &Actor,
        month: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.require(
            actor,
            Operation::GeneratePublicLog,
            AuditAction::PublogGenerate,
        )
        .await?;
        let m = Month::parse(month)?;
        let tz = self.city_tz()?;
        let end = m.end(&tz);
        if self.now() < end {
            return Err(Error::FailedPrecondition(format!(
                "{m} is not over yet in {}: it ends at {}",
                self.config.city.time_zone,
                minute(end, &tz)
            )));
        }
        let files = render(&build(&self.month_input(m).await?));
        let mut d = Draft::new(
            &actor.username,
            AuditAction::PublogGenerate,
            "PublicLog",
            &m.to_string(),
        );
        d.details = serde_json::json!({"files": files.iter().map(|(n, b)| (n.clone(), b.len())).collect::<BTreeMap<_, _>>()});
        self.audit.record(d).await?;
        Ok(files)
    }

    /// Publishes every month that changed and is over (the leader runs this).
    /// Idempotent: a month is republished only when a report or case assist
    /// arrived for it since. Returns the months published.
    pub async fn publish_due(&self) -> Result<Vec<String>> {
        let tz = self.city_tz()?;
        let now = self.now();
        let dirty = self.store.list(DIRTY).await?;
        let mut done = Vec::new();
        for kv in dirty.kvs {
            let name = kv.key.trim_start_matches(DIRTY);
            let Ok(m) = Month::parse(name) else {
                self.store.delete(&kv.key).await?;
                continue;
            };
            if now < m.end(&tz) {
                continue;
            }
            let log = build(&self.month_input(m).await?);
            let files = render(&log);
            let pkey = format!("{PUBLISHED}{m}");
            let seen = kv.mod_revision;
            // The month and its "changed since" mark are read, decided on and
            // compared together; a report that lands meanwhile marks the month
            // again, and the next pass publishes it with that report in.
            let outcome = self
                .update_keys(&[pkey.as_str(), kv.key.as_str()], |kvs| {
                    if kvs[1].as_ref().map(|d| d.mod_revision) != Some(seen) {
                        return Ok(KeyStep::Keep(Publish::MarkedAgain));
                    }
                    let prev_rec: Option<Published> = kvs[0]
                        .as_ref()
                        .and_then(|p| serde_json::from_slice(&p.value).ok());
                    let rec = Published {
                        month: m.to_string(),
                        last_updated: log.last_updated.clone(),
                        published_at: now,
                        edition: prev_rec.as_ref().map_or(1, |p| p.edition + 1),
                        files: files
                            .iter()
                            .map(|(n, b)| (n.clone(), String::from_utf8_lossy(b).into_owned()))
                            .collect(),
                    };
                    if prev_rec.as_ref().is_some_and(|p| p.files == rec.files) {
                        return Ok(KeyStep::Keep(Publish::Unchanged));
                    }
                    let mut d = Draft::new(
                        "system",
                        AuditAction::PublogPublish,
                        "PublicLog",
                        &m.to_string(),
                    );
                    d.details = serde_json::json!({"edition": rec.edition, "last_updated": rec.last_updated});
                    let mut change = KeyChange::put(serde_json::to_vec(&rec)?, d);
                    change.ops.push(Op::Delete(kv.key.clone()));
                    Ok(KeyStep::Write(Box::new(change), Publish::Published(rec.edition)))
                })
                .await?;
            match outcome {
                Publish::Published(edition) => {
                    tracing::info!(month = %m, edition, "public log published");
                    done.push(m.to_string());
                }
                // Nothing to publish: the mark goes, unless a report set it again.
                Publish::Unchanged => {
                    let compare = vec![Compare::ModRevision(kv.key.clone(), seen)];
                    self.store
                        .txn(compare, vec![Op::Delete(kv.key.clone())])
                        .await?;
                }
                Publish::MarkedAgain => {}
            }
        }
        Ok(done)
    }

    /// Published months, newest first.
    pub async fn published_months(&self) -> Result<Vec<Published>> {
        let l = self.store.list(PUBLISHED).await?;
        let mut v: Vec<Published> = l
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        v.sort_by(|a, b| b.month.cmp(&a.month));
        Ok(v)
    }

    /// One published file, if the month is published.
    pub async fn published_file(&self, month: &str, file: &str) -> Result<Option<String>> {
        let m = Month::parse(month)?;
        let Some(kv) = self.store.get(&format!("{PUBLISHED}{m}")).await? else {
            return Ok(None);
        };
        let p: Published = serde_json::from_slice(&kv.value)?;
        Ok(p.files.get(file).cloned())
    }

    /// Records an assist to a case (ALPR operator, supervisor, chief). Counted by
    /// offence in the month of `date` (today in the city when none is given).
    pub async fn add_case_assist(
        &self,
        actor: &Actor,
        case_number: &str,
        offense: &str,
        arrests: u32,
        date: Option<&str>,
    ) -> Result<CaseAssist> {
        self.require(
            actor,
            Operation::RecordCaseAssist,
            AuditAction::CaseAssistAdd,
        )
        .await?;
        let re = regex::Regex::new(&self.config.city.case_number_format)
            .map_err(|e| Error::Internal(format!("case number format: {e}")))?;
        if case_number.len() > 64 || !re.is_match(case_number) {
            return Err(Error::InvalidArgument(format!(
                "--case: does not match the city's case number format {}",
                self.config.city.case_number_format
            )));
        }
        check_offense(offense)?;
        if arrests > 1000 {
            return Err(Error::InvalidArgument(format!(
                "--arrests {arrests}: at most 1000"
            )));
        }
        let tz = self.city_tz()?;
        let now = self.now();
        let date: Date = match date {
            None | Some("") => now.to_zoned(tz.clone()).date(),
            Some(d) => d.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--date {:?}: expected YYYY-MM-DD",
                    d.chars().take(20).collect::<String>()
                ))
            })?,
        };
        if local_midnight(date, &tz) > now {
            return Err(Error::InvalidArgument(format!(
                "--date {date}: in the future"
            )));
        }
        let a = CaseAssist {
            case_number: case_number.into(),
            offense: offense.into(),
            arrests,
            date,
            entered_by: actor.username.clone(),
            entered_at: now,
        };
        let month = Month {
            year: date.year(),
            month: date.month(),
        };
        let key = format!(
            "{ASSISTS}{month}/{:013}-{}",
            now.as_millisecond().max(0),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let mut d = Draft::new(
            &actor.username,
            AuditAction::CaseAssistAdd,
            "CaseAssist",
            &key,
        );
        d.details = serde_json::json!({"case_number": case_number, "offense": offense, "arrests": arrests, "date": date});
        self.audit
            .commit(
                vec![],
                vec![
                    Op::Put(key, serde_json::to_vec(&a)?),
                    Op::Put(format!("{DIRTY}{month}"), Vec::new()),
                ],
                d,
            )
            .await?;
        Ok(a)
    }
}
