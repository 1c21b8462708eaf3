//! Reader history: where each ALPR reader stood and when it was confidential,
//! as an append-only record of its own (`readers/history/{camera}/{seq}`), so
//! that the public list of current and previous reader locations (policy 5.05,
//! ALPR program, "Log of use required") does not depend on camera records
//! that can be edited or deleted.
//!
//! An entry is appended, in the same transaction as the change, when a reader
//! is activated, its location changes while active (a relocation), it is
//! retired, or it is marked or unmarked confidential. Entries are written once
//! (create-if-absent) and nothing edits or deletes them; deleting a retired
//! reader's camera leaves its history. Marking a reader confidential needs a
//! reason and a basis from `publog.confidential_bases`, and hides it only from
//! then on.

use super::*;
use crate::core::AuditAction;
use camplane_config::model::{CameraState, LatLon};

/// Prefix of the reader histories.
pub const HISTORY: &str = "readers/history/";

/// The longest `confidential_reason`.
pub const REASON_MAX_CHARS: usize = 500;

/// The prefix of one reader's entries.
pub fn history_prefix(camera: &str) -> String {
    format!("{HISTORY}{camera}/")
}

/// The key of a reader's entry `seq` (zero-padded: keys sort as numbers).
pub fn history_key(camera: &str, seq: u64) -> String {
    format!("{HISTORY}{camera}/{seq:010}")
}

/// What happened to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderEvent {
    /// Activated at its location.
    Activated,
    /// Its location changed while active.
    Relocated,
    /// Taken out of service.
    Retired,
    /// Marked confidential (or its basis or reason restated).
    Confidential,
    /// Its confidential marking lifted.
    Public,
}

/// One entry of a reader's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderEntry {
    /// The camera.
    pub camera: String,
    /// Its place in the camera's history, from 0.
    pub seq: u64,
    /// What happened.
    pub event: ReaderEvent,
    /// When (a marking: its effective time).
    pub at: Timestamp,
    /// Fixed, mobile or temporary.
    pub kind: CameraKind,
    /// Where it stood then.
    pub location: LatLon,
    /// A covert reader is never shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub covert: bool,
    /// The placement request it stood under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_request: Option<String>,
    /// A marking's basis code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// A marking's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who made the change.
    pub by: String,
    /// Written at start from a camera record of a store from before reader
    /// histories (its dates are the record's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfilled: bool,
}

impl ReaderEntry {
    /// An entry for `camera` as `spec` describes it (seq given when appended).
    pub fn new(
        camera: &str,
        event: ReaderEvent,
        spec: &CameraSpec,
        at: Timestamp,
        by: &str,
    ) -> ReaderEntry {
        let marking = event == ReaderEvent::Confidential;
        ReaderEntry {
            camera: camera.into(),
            seq: 0,
            event,
            at,
            kind: spec.kind,
            location: spec.location,
            covert: spec.covert,
            placement_request: spec.placement_request.clone(),
            basis: spec.confidential_basis.clone().filter(|_| marking),
            reason: spec.confidential_reason.clone().filter(|_| marking),
            by: by.into(),
            backfilled: false,
        }
    }
}

/// Whether a camera is an ALPR reader.
pub fn is_reader(spec: &CameraSpec) -> bool {
    spec.alpr || spec.purpose == Purpose::Alpr
}

/// The entries a camera's change appends (the rule, pure): `old` and `new` are
/// its spec and state before and after.
pub fn reader_events(
    old: Option<(&CameraSpec, CameraState)>,
    new: (&CameraSpec, CameraState),
) -> Vec<ReaderEvent> {
    let (spec, state) = new;
    if !is_reader(spec) && !old.is_some_and(|(o, _)| is_reader(o)) {
        return vec![];
    }
    let mut out = Vec::new();
    let was = old.map(|(_, s)| s);
    if state == CameraState::Active && was != Some(CameraState::Active) {
        out.push(ReaderEvent::Activated);
    }
    if let (Some((o, CameraState::Active)), CameraState::Active) = (old, state) {
        if o.location != spec.location {
            out.push(ReaderEvent::Relocated);
        }
    }
    if state == CameraState::Retired && was != Some(CameraState::Retired) {
        out.push(ReaderEvent::Retired);
    }
    let old_spec = old.map(|(o, _)| o);
    match (old_spec.is_some_and(|o| o.confidential), spec.confidential) {
        (false, true) => out.push(ReaderEvent::Confidential),
        (true, true)
            if old_spec.is_some_and(|o| {
                o.confidential_basis != spec.confidential_basis
                    || o.confidential_reason != spec.confidential_reason
            }) =>
        {
            out.push(ReaderEvent::Confidential)
        }
        (true, false) => out.push(ReaderEvent::Public),
        _ => {}
    }
    out
}

/// Who may change a camera's confidential marking (`confidential` and its
/// reason and basis): policy 5.05 keeps a reader's locations from the public
/// list only when "the agency determines that the data is confidential", and
/// the agency is the Police Department, so the chief
/// ([`Operation::MarkReaderConfidential`]) marks and unmarks. Information
/// Services applies every other field; the chief without its role changes
/// only the marking of a camera that exists. A refusal is audited
/// (`reader.confidential`, `reader.public` or `apply Camera`).
pub fn check_marking(
    actor: &Actor,
    name: &str,
    old: Option<&CameraSpec>,
    new: &CameraSpec,
) -> std::result::Result<(), crate::core::Refusal> {
    let marking = |c: &CameraSpec| {
        (
            c.confidential,
            c.confidential_reason.clone(),
            c.confidential_basis.clone(),
        )
    };
    let before = old.map(marking).unwrap_or((false, None, None));
    let after = marking(new);
    if before != after && !Operation::MarkReaderConfidential.allows(actor) {
        let action = if after.0 {
            AuditAction::ReaderConfidential
        } else {
            AuditAction::ReaderPublic
        };
        return Err(crate::core::Refusal::denied(
            actor,
            action,
            "Camera",
            name,
            format!(
                "whether camera {name}'s locations are kept from the public is the Police Department's determination (policy 5.05): the chief applies its confidential marking"
            ),
        ));
    }
    if !Operation::WriteRegistry.allows(actor) {
        let only_marking = old.is_some_and(|o| {
            let mut n = new.clone();
            n.confidential = o.confidential;
            n.confidential_reason = o.confidential_reason.clone();
            n.confidential_basis = o.confidential_basis.clone();
            &n == o
        });
        if !only_marking {
            return Err(crate::core::Refusal::denied(
                actor,
                AuditAction::ApplyKind(Kind::Camera),
                "Camera",
                name,
                format!(
                    "the chief changes only camera {name}'s confidential marking (confidential, confidential_reason, confidential_basis) of a camera that exists; Information Services applies the rest"
                ),
            ));
        }
    }
    Ok(())
}

/// What is wrong with a camera's confidential marking, as (path, message):
/// `confidential: true` needs a reason (bounded, printable) and a basis from
/// `bases`; the two fields mean nothing without it. The reason is never echoed.
pub fn confidential_problems(spec: &CameraSpec, bases: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let listed = if bases.is_empty() {
        "none: publog.confidential_bases is empty".to_string()
    } else {
        bases.join(", ")
    };
    if !spec.confidential {
        for (path, set) in [
            (
                "spec.confidential_reason",
                spec.confidential_reason.is_some(),
            ),
            ("spec.confidential_basis", spec.confidential_basis.is_some()),
        ] {
            if set {
                out.push((path.into(), "only with confidential: true".into()));
            }
        }
        return out;
    }
    match spec.confidential_reason.as_deref().map(str::trim) {
        None | Some("") => out.push((
            "spec.confidential_reason".into(),
            "required with confidential: true: say why the reader's locations are kept from the public".into(),
        )),
        Some(r) if r.chars().count() > REASON_MAX_CHARS || r.chars().any(char::is_control) => out
            .push((
                "spec.confidential_reason".into(),
                format!("at most {REASON_MAX_CHARS} printable characters"),
            )),
        Some(_) => {}
    }
    match spec.confidential_basis.as_deref() {
        None | Some("") => out.push((
            "spec.confidential_basis".into(),
            format!("required with confidential: true: one of {listed}"),
        )),
        Some(b) if !bases.iter().any(|x| x == b) => out.push((
            "spec.confidential_basis".into(),
            format!(
                "{:?} is not a basis of publog.confidential_bases ({listed})",
                b.chars().take(48).collect::<String>()
            ),
        )),
        Some(_) => {}
    }
    out
}

/// A stretch of time; `until` none: still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Start.
    pub from: Timestamp,
    /// End, if it ended.
    pub until: Option<Timestamp>,
}

impl Span {
    /// Always (a covert reader's hiding).
    pub const ALWAYS: Span = Span {
        from: Timestamp::MIN,
        until: None,
    };
}

/// A reader's history as stored, and where its next entry goes.
#[derive(Debug, Clone, Default)]
pub struct ReaderHistory {
    /// The camera.
    pub camera: String,
    /// Its entries, oldest first.
    pub entries: Vec<ReaderEntry>,
}

impl ReaderHistory {
    /// The key its next entry takes.
    pub fn next_key(&self) -> String {
        history_key(&self.camera, self.next_seq())
    }

    fn next_seq(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq + 1)
    }

    /// The store ops that append `entries` (numbered in order).
    pub fn append_ops(&self, entries: Vec<ReaderEntry>) -> Result<Vec<Op>> {
        let mut ops = Vec::with_capacity(entries.len());
        for (seq, mut e) in (self.next_seq()..).zip(entries) {
            e.seq = seq;
            ops.push(Op::Put(
                history_key(&self.camera, seq),
                serde_json::to_vec(&e)?,
            ));
        }
        Ok(ops)
    }

    /// The reader as the public log sees it.
    pub fn info(&self) -> ReaderInfo {
        reader_info(&self.camera, &self.entries)
    }
}

/// A reader's places and hidden stretches from its entries (pure): activation
/// or relocation at another place closes the current place and opens one;
/// retirement closes it; a marking opens a hidden stretch, its lifting closes
/// it; a covert reader is hidden always.
pub fn reader_info(camera: &str, entries: &[ReaderEntry]) -> ReaderInfo {
    let mut info = ReaderInfo {
        camera: camera.into(),
        kind: entries.last().map_or(CameraKind::Fixed, |e| e.kind),
        hidden: Vec::new(),
        locations: Vec::new(),
    };
    let mut covert = false;
    for e in entries {
        covert |= e.covert;
        let open = info.locations.last_mut().filter(|l| l.until.is_none());
        match e.event {
            ReaderEvent::Activated | ReaderEvent::Relocated => match open {
                Some(l) if l.location == e.location => {}
                open => {
                    if let Some(l) = open {
                        l.until = Some(e.at);
                    }
                    info.locations.push(LocationRecord {
                        location: e.location,
                        from: e.at,
                        until: None,
                    });
                }
            },
            ReaderEvent::Retired => {
                if let Some(l) = open {
                    l.until = Some(e.at);
                }
            }
            ReaderEvent::Confidential => {
                if info.hidden.last().is_none_or(|h| h.until.is_some()) {
                    info.hidden.push(Span {
                        from: e.at,
                        until: None,
                    });
                }
            }
            ReaderEvent::Public => {
                if let Some(h) = info.hidden.last_mut().filter(|h| h.until.is_none()) {
                    h.until = Some(e.at);
                }
            }
        }
    }
    if covert {
        info.hidden = vec![Span::ALWAYS];
    }
    info
}

impl Controller {
    /// One reader's history, read from the store.
    pub async fn reader_history(&self, camera: &str) -> Result<ReaderHistory> {
        let l = self.store.list(&history_prefix(camera)).await?;
        let mut entries = Vec::with_capacity(l.kvs.len());
        for kv in &l.kvs {
            entries.push(serde_json::from_slice::<ReaderEntry>(&kv.value)?);
        }
        Ok(ReaderHistory {
            camera: camera.into(),
            entries,
        })
    }

    /// Every reader the public log knows: those with a history, and registered
    /// readers that have none yet (never activated, never marked); a covert
    /// camera is hidden always.
    pub async fn reader_infos(&self) -> Result<Vec<ReaderInfo>> {
        let l = self.store.list(HISTORY).await?;
        let mut by_camera: BTreeMap<String, Vec<ReaderEntry>> = BTreeMap::new();
        for kv in &l.kvs {
            match serde_json::from_slice::<ReaderEntry>(&kv.value) {
                Ok(e) => by_camera.entry(e.camera.clone()).or_default().push(e),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable reader history entry")
                }
            }
        }
        let mut out: BTreeMap<String, ReaderInfo> = by_camera
            .iter()
            .map(|(c, es)| (c.clone(), reader_info(c, es)))
            .collect();
        for (o, _) in self.list(Kind::Camera)? {
            let Ok(spec) = serde_json::from_value::<CameraSpec>(o.spec.clone()) else {
                continue;
            };
            match out.get_mut(&o.name) {
                Some(r) if spec.covert => r.hidden = vec![Span::ALWAYS],
                Some(_) => {}
                None if is_reader(&spec) => {
                    out.insert(
                        o.name.clone(),
                        ReaderInfo {
                            camera: o.name.clone(),
                            kind: spec.kind,
                            hidden: if spec.confidential || spec.covert {
                                vec![Span::ALWAYS]
                            } else {
                                vec![]
                            },
                            locations: vec![],
                        },
                    );
                }
                None => {}
            }
        }
        Ok(out.into_values().collect())
    }

    /// Gives readers of a store from before reader histories their history,
    /// once, from their camera records (run at start on every replica: each
    /// reader's first entry is written only if absent, so one replica writes
    /// it and a second run writes nothing). A reader that was in service
    /// (active, suspended or retired) gets its recorded places; one stored as
    /// confidential gets a marking dated at its first place, since the old
    /// marking hid its whole past and its date is not known. Audited
    /// `reader.history_backfill` per reader. Returns the readers written.
    pub async fn backfill_reader_history(&self) -> Result<usize> {
        let mut written = 0;
        for (o, _) in self.list(Kind::Camera)? {
            let Ok(spec) = serde_json::from_value::<CameraSpec>(o.spec.clone()) else {
                continue;
            };
            if !is_reader(&spec) {
                continue;
            }
            let hist = self.reader_history(&o.name).await?;
            if !hist.entries.is_empty() {
                continue;
            }
            let st: CameraStatus = serde_json::from_value(o.status.clone()).unwrap_or_default();
            let mut entries = Vec::new();
            let entry = |event, location, at| ReaderEntry {
                location,
                backfilled: true,
                ..ReaderEntry::new(&o.name, event, &spec, at, "system")
            };
            let served = matches!(
                st.state,
                CameraState::Active | CameraState::Suspended | CameraState::Retired
            );
            if served {
                for (i, l) in st.location_history.iter().enumerate() {
                    let event = if i == 0 {
                        ReaderEvent::Activated
                    } else {
                        ReaderEvent::Relocated
                    };
                    entries.push(entry(event, l.location, l.from));
                }
                if st.state == CameraState::Retired {
                    let at = st
                        .state_since
                        .or(st.location_history.last().and_then(|l| l.until))
                        .unwrap_or(Timestamp::UNIX_EPOCH);
                    entries.push(entry(ReaderEvent::Retired, spec.location, at));
                }
            }
            if spec.confidential {
                let at = st
                    .location_history
                    .first()
                    .map_or(Timestamp::UNIX_EPOCH, |l| l.from);
                entries.insert(0, entry(ReaderEvent::Confidential, spec.location, at));
            }
            if entries.is_empty() {
                continue;
            }
            let ops = hist.append_ops(entries)?;
            let mut d = Draft::new(
                "system",
                AuditAction::ReaderHistoryBackfill,
                "Camera",
                &o.name,
            );
            d.details = serde_json::json!({"entries": ops.len()});
            let first = history_key(&o.name, 0);
            if self
                .audit
                .commit(vec![Compare::ModRevision(first, 0)], ops, d)
                .await?
                .is_some()
            {
                written += 1;
            }
        }
        if written > 0 {
            tracing::info!(
                readers = written,
                "reader histories written from camera records (a store from before reader histories)"
            );
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(confidential: bool) -> CameraSpec {
        serde_json::from_value(serde_json::json!({
            "site": "s", "department": "police", "kind": "fixed", "purpose": "alpr", "alpr": true,
            "location": {"lat": 42.5, "lon": -90.66}, "streams": {"main": "rtsp://x/y"},
            "confidential": confidential,
        }))
        .unwrap()
    }

    #[test]
    fn the_chief_marks_a_reader_and_information_services_the_rest() {
        use camplane_config::model::Role;
        let who = |r: Role| Actor {
            username: "u".into(),
            roles: vec![r],
            department: "police".into(),
        };
        let (admin, chief, viewer) = (who(Role::Admin), who(Role::Chief), who(Role::Viewer));
        let public = spec(false);
        let mut marked = spec(true);
        marked.confidential_reason = Some("task force site".into());
        marked.confidential_basis = Some("iowa-code-22.7".into());
        let mut moved = public.clone();
        moved.location.lat += 0.01;
        // The marking, either way: the chief's, not Information Services'.
        assert!(check_marking(&chief, "l", Some(&public), &marked).is_ok());
        assert!(check_marking(&chief, "l", Some(&marked), &public).is_ok());
        for (old, new) in [
            (Some(&public), &marked),
            (Some(&marked), &public),
            (None, &marked),
        ] {
            let r = check_marking(&admin, "l", old, new).unwrap_err();
            assert!(matches!(r.error, crate::Error::PermissionDenied(_)));
            assert!(r.audit.is_some(), "audited");
        }
        let mut reworded = marked.clone();
        reworded.confidential_reason = Some("another reason".into());
        assert!(check_marking(&admin, "l", Some(&marked), &reworded).is_err());
        // Everything else: Information Services', the marking kept as it is.
        assert!(check_marking(&admin, "l", Some(&public), &moved).is_ok());
        assert!(check_marking(&admin, "l", None, &public).is_ok());
        let mut marked_moved = marked.clone();
        marked_moved.location.lat += 0.01;
        assert!(check_marking(&admin, "l", Some(&marked), &marked_moved).is_ok());
        // The chief changes nothing else, and creates nothing.
        assert!(check_marking(&chief, "l", Some(&public), &moved).is_err());
        assert!(check_marking(&chief, "l", None, &marked).is_err());
        assert!(check_marking(&chief, "l", Some(&public), &public).is_ok());
        // Anyone else: neither.
        assert!(check_marking(&viewer, "l", Some(&public), &marked).is_err());
    }

    #[test]
    fn the_changes_that_append() {
        use CameraState::{Active, Approved, Proposed, Suspended};
        use ReaderEvent::{Activated, Confidential, Public, Relocated};
        let a = spec(false);
        assert_eq!(
            reader_events(Some((&a, Approved)), (&a, Active)),
            [Activated]
        );
        assert_eq!(
            reader_events(Some((&a, Suspended)), (&a, Active)),
            [Activated]
        );
        assert_eq!(reader_events(Some((&a, Active)), (&a, Active)), []);
        assert_eq!(reader_events(Some((&a, Active)), (&a, Suspended)), []);
        assert_eq!(
            reader_events(Some((&a, Active)), (&a, CameraState::Retired)),
            [ReaderEvent::Retired]
        );
        let mut moved = a.clone();
        moved.location.lat += 0.01;
        assert_eq!(
            reader_events(Some((&a, Active)), (&moved, Active)),
            [Relocated]
        );
        assert_eq!(reader_events(Some((&a, Approved)), (&moved, Approved)), []);
        let mut c = spec(true);
        c.confidential_basis = Some("iowa-code-22.7".into());
        c.confidential_reason = Some("x".into());
        assert_eq!(reader_events(None, (&c, Proposed)), [Confidential]);
        assert_eq!(
            reader_events(Some((&a, Active)), (&c, Active)),
            [Confidential]
        );
        assert_eq!(reader_events(Some((&c, Active)), (&c, Active)), []);
        let mut restated = c.clone();
        restated.confidential_reason = Some("y".into());
        assert_eq!(
            reader_events(Some((&c, Active)), (&restated, Active)),
            [Confidential]
        );
        assert_eq!(reader_events(Some((&c, Active)), (&a, Active)), [Public]);
        let mut cam = a.clone();
        cam.alpr = false;
        cam.purpose = Purpose::PropertyProtection;
        assert_eq!(reader_events(Some((&cam, Approved)), (&cam, Active)), []);
    }

    #[test]
    fn a_marking_needs_a_reason_and_a_listed_basis() {
        let bases = vec!["iowa-code-22.7".to_string()];
        let mut c = spec(true);
        let paths = |c: &CameraSpec| {
            confidential_problems(c, &bases)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            paths(&c),
            ["spec.confidential_reason", "spec.confidential_basis"]
        );
        c.confidential_reason = Some("x".repeat(REASON_MAX_CHARS + 1));
        c.confidential_basis = Some("because".into());
        assert_eq!(
            paths(&c),
            ["spec.confidential_reason", "spec.confidential_basis"]
        );
        c.confidential_reason = Some("a line\u{0}".into());
        c.confidential_basis = Some("iowa-code-22.7".into());
        assert_eq!(paths(&c), ["spec.confidential_reason"]);
        c.confidential_reason = Some("Iowa DCI task force site".into());
        assert!(paths(&c).is_empty());
        // The fields mean nothing without the marking.
        c.confidential = false;
        assert_eq!(
            paths(&c),
            ["spec.confidential_reason", "spec.confidential_basis"]
        );
        assert!(paths(&spec(false)).is_empty());
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn places_and_hidden_stretches_follow_the_entries() {
        let a = spec(false);
        let mut b = a.clone();
        b.location.lat += 0.01;
        let e = |event, s: &CameraSpec, t: &str| ReaderEntry::new("r", event, s, at(t), "u");
        let info = reader_info(
            "r",
            &[
                e(ReaderEvent::Activated, &a, "2026-01-01T00:00:00Z"),
                e(ReaderEvent::Activated, &a, "2026-02-01T00:00:00Z"),
                e(ReaderEvent::Relocated, &b, "2026-03-01T00:00:00Z"),
                e(ReaderEvent::Confidential, &b, "2026-04-01T00:00:00Z"),
                e(ReaderEvent::Public, &b, "2026-05-01T00:00:00Z"),
                e(ReaderEvent::Retired, &b, "2026-06-01T00:00:00Z"),
            ],
        );
        assert_eq!(info.locations.len(), 2, "re-activation at the same place");
        assert_eq!(info.locations[0].until, Some(at("2026-03-01T00:00:00Z")));
        assert_eq!(info.locations[1].until, Some(at("2026-06-01T00:00:00Z")));
        assert_eq!(
            info.hidden,
            [Span {
                from: at("2026-04-01T00:00:00Z"),
                until: Some(at("2026-05-01T00:00:00Z"))
            }]
        );
        assert!(info.hidden_at(at("2026-04-15T00:00:00Z")));
        assert!(!info.hidden_at(at("2026-03-15T00:00:00Z")));
        // Shown as of the end of June: the second place cut where it was hidden.
        let shown = info.public_places(at("2026-07-01T00:00:00Z"));
        let cut: Vec<_> = shown.iter().map(|l| (l.from, l.until)).collect();
        assert_eq!(
            cut,
            [
                (at("2026-01-01T00:00:00Z"), Some(at("2026-03-01T00:00:00Z"))),
                (at("2026-03-01T00:00:00Z"), Some(at("2026-04-01T00:00:00Z"))),
                (at("2026-05-01T00:00:00Z"), Some(at("2026-06-01T00:00:00Z"))),
            ]
        );
        // As of the end of February, only what was known then.
        let feb = info.public_places(at("2026-03-01T00:00:00Z"));
        assert_eq!(feb.len(), 1);
        assert_eq!(feb[0].until, None);
        let mut covert = a.clone();
        covert.covert = true;
        let info = reader_info(
            "r",
            &[e(ReaderEvent::Activated, &covert, "2026-01-01T00:00:00Z")],
        );
        assert!(info.public_places(at("2027-01-01T00:00:00Z")).is_empty());
    }
}
