//! The desired-config index: what every agent must run, kept current from the
//! fleet keys that changed, and the wake-up channel of each agent session.
//!
//! [`Rows`] holds the parsed inputs (each agent's site, each camera's agent and
//! what it runs, the active holds) and says which agents a changed input
//! concerns; [`Rows::entry`] builds one agent's config from them. Both are pure:
//! the fleet ([`super::Fleet::desired_map`]) parses the changed records and
//! applies them.

use camplane_config::model::{AgentCamera, AgentDesired, LegalHoldSpec};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// One agent's desired config and its JSON (what is pushed).
#[derive(Debug)]
pub struct DesiredEntry {
    /// The config.
    pub desired: AgentDesired,
    /// Its JSON.
    pub json: Vec<u8>,
    /// Every camera assigned to the agent, in any state: the cameras its
    /// reports may speak for (see [`reports`]).
    pub assigned: HashSet<String>,
    /// The cameras it recorded before they moved to another gateway: its
    /// late windows of them (reads it counted before the move, sent after)
    /// still count in the public log.
    pub formerly: HashSet<String>,
    /// Whether one of those cameras reads plates (any state: an approved
    /// reader's gateway holds the hotlists before the reader goes live). Only
    /// such agents are sent hotlists.
    pub reads_plates: bool,
}

/// Every agent's desired config, and the wake channel of each agent with a
/// session here. It is updated from the fleet keys that changed (see
/// [`crate::core::cache::Cache::fleet_changes`]): only the changed records are
/// parsed and only the agents they concern are rebuilt and woken, so the time
/// from a change to its agent does not grow with the fleet. Built in full at
/// the first use and whenever the change log no longer reaches back.
#[derive(Default)]
pub struct DesiredIndex {
    /// The fleet change it was built through, its inputs and its entries.
    pub(super) built: Mutex<Option<Built>>,
    /// Agent to the channel its sessions wait on.
    wakes: Arc<Mutex<WakeMap>>,
}

/// Agent name to desired config.
pub type DesiredMap = HashMap<String, Arc<DesiredEntry>>;

type WakeMap = HashMap<String, tokio::sync::watch::Sender<u64>>;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session's wake-up call: fires when its agent's desired config changed, or
/// a hotlist did. Dropping the last one of an agent forgets the agent.
pub struct Wake {
    rx: tokio::sync::watch::Receiver<u64>,
    agent: String,
    wakes: Arc<Mutex<WakeMap>>,
}

impl Wake {
    /// Waits for the next wake-up (pending forever if none can come).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        let mut g = lock(&self.wakes);
        // This receiver still counts: the last session of the agent has it.
        if g.get(&self.agent)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            g.remove(&self.agent);
        }
    }
}

impl DesiredIndex {
    /// The wake-up of a session of `agent`, to take before its first look at
    /// the desired config (so no change between the two is missed).
    pub fn subscribe(&self, agent: &str) -> Wake {
        let rx = lock(&self.wakes)
            .entry(agent.to_string())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe();
        Wake {
            rx,
            agent: agent.to_string(),
            wakes: self.wakes.clone(),
        }
    }

    /// Wakes the sessions of these agents; returns how many agents had one.
    pub fn wake<'a>(&self, agents: impl IntoIterator<Item = &'a str>) -> usize {
        let g = lock(&self.wakes);
        agents
            .into_iter()
            .filter_map(|a| g.get(a))
            .map(|tx| tx.send_modify(|n| *n = n.wrapping_add(1)))
            .count()
    }

    /// How many agents have a session here.
    pub fn sessions(&self) -> usize {
        lock(&self.wakes).len()
    }

    /// Wakes every session (a hotlist changed, or the index could not be built).
    pub fn wake_all(&self) -> usize {
        let g = lock(&self.wakes);
        for tx in g.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        g.len()
    }
}

/// The agents whose desired config (what is pushed) differs between two
/// builds of the index, those added and removed included, sorted. Only these
/// sessions need waking; the rest would find nothing to send.
pub fn changed_agents(old: &DesiredMap, new: &DesiredMap) -> Vec<String> {
    let mut out: Vec<String> = new
        .iter()
        .filter(|(a, e)| {
            old.get(*a)
                .is_none_or(|o| !Arc::ptr_eq(o, e) && o.json != e.json)
        })
        .map(|(a, _)| a.clone())
        .collect();
    out.extend(old.keys().filter(|a| !new.contains_key(*a)).cloned());
    out.sort();
    out
}

/// The agents that match plates: those with at least one ALPR camera, sorted.
/// A hotlist change concerns these only (issue #17: hotlist deltas go to every
/// ALPR agent).
pub fn alpr_agents(map: &DesiredMap) -> Vec<String> {
    let mut out: Vec<String> = map
        .iter()
        .filter(|(_, e)| e.reads_plates)
        .map(|(a, _)| a.clone())
        .collect();
    out.sort();
    out
}

/// What one camera contributes to its agent's config.
#[derive(Debug, Clone, PartialEq)]
pub struct CamRow {
    /// The agent it is assigned to.
    pub agent: Option<String>,
    /// The agents it was assigned to before (`CameraStatus::former_agents`):
    /// they keep its older recordings, so its holds reach them too.
    pub former: Vec<String>,
    /// Whether it reads plates (its spec's `alpr`, whatever its state).
    pub alpr: bool,
    /// What the agent runs for it, when the camera is active.
    pub runs: Option<AgentCamera>,
}

/// Files `cam` under `agent`.
fn link(map: &mut HashMap<String, BTreeSet<String>>, agent: &str, cam: &str) {
    map.entry(agent.to_string())
        .or_default()
        .insert(cam.to_string());
}

/// Takes `cam` from under `agent`, and the agent's entry once it is empty.
fn unlink(map: &mut HashMap<String, BTreeSet<String>>, agent: &str, cam: &str) {
    if let Some(set) = map.get_mut(agent) {
        set.remove(cam);
        if set.is_empty() {
            map.remove(agent);
        }
    }
}

/// The parsed inputs of the index.
#[derive(Debug, Default)]
pub struct Rows {
    /// Registered agents and their sites.
    agents: HashMap<String, String>,
    /// Cameras.
    cams: HashMap<String, CamRow>,
    /// Agent to the cameras assigned to it (registered or not yet).
    by_agent: HashMap<String, BTreeSet<String>>,
    /// Agent to the cameras it recorded before they moved to another.
    by_former: HashMap<String, BTreeSet<String>>,
    /// Active legal holds.
    holds: Vec<LegalHoldSpec>,
}

impl Rows {
    /// Sets (or with `None` removes) an agent; it is touched.
    pub fn set_agent(&mut self, agent: &str, site: Option<String>, touched: &mut BTreeSet<String>) {
        match site {
            Some(s) => self.agents.insert(agent.to_string(), s),
            None => self.agents.remove(agent),
        };
        touched.insert(agent.to_string());
    }

    /// Sets (or with `None` removes) a camera; the agents it leaves and joins
    /// are touched.
    pub fn set_camera(&mut self, cam: &str, row: Option<CamRow>, touched: &mut BTreeSet<String>) {
        let old = match &row {
            Some(r) => self.cams.insert(cam.to_string(), r.clone()),
            None => self.cams.remove(cam),
        };
        // Former agents: a change of the list touches those it adds or drops.
        let was: Vec<String> = old.as_ref().map(|o| o.former.clone()).unwrap_or_default();
        let now: Vec<String> = row.as_ref().map(|r| r.former.clone()).unwrap_or_default();
        for a in was.iter().filter(|a| !now.contains(a)) {
            unlink(&mut self.by_former, a, cam);
            touched.insert(a.clone());
        }
        for a in now.iter().filter(|a| !was.contains(a)) {
            link(&mut self.by_former, a, cam);
            touched.insert(a.clone());
        }
        if let Some(a) = old.and_then(|o| o.agent) {
            unlink(&mut self.by_agent, &a, cam);
            touched.insert(a);
        }
        if let Some(a) = row.and_then(|r| r.agent) {
            link(&mut self.by_agent, &a, cam);
            touched.insert(a);
        }
    }

    /// Replaces the active holds; the agents of the cameras named by a hold
    /// that was added, removed or changed are touched.
    pub fn set_holds(&mut self, holds: Vec<LegalHoldSpec>, touched: &mut BTreeSet<String>) {
        let differ = |a: &[LegalHoldSpec], b: &[LegalHoldSpec]| -> Vec<String> {
            a.iter()
                .filter(|h| !b.contains(h))
                .flat_map(|h| h.cameras.iter().cloned())
                .collect()
        };
        let mut cams = differ(&self.holds, &holds);
        cams.extend(differ(&holds, &self.holds));
        for c in cams {
            if let Some(r) = self.cams.get(&c) {
                touched.extend(r.agent.iter().chain(&r.former).cloned());
            }
        }
        self.holds = holds;
    }

    /// Every agent the rows know of: registered, or named by a camera.
    pub fn all_agents(&self) -> BTreeSet<String> {
        self.agents
            .keys()
            .chain(self.by_agent.keys())
            .cloned()
            .collect()
    }

    /// One registered agent's desired config and its assigned cameras (any
    /// state): its active cameras in name order, and the holds on any camera
    /// assigned to it or that it recorded before the camera moved. A suspended,
    /// retired or moved camera's recordings are still on the gateway and still
    /// age out there, so its holds must still reach it.
    pub fn entry(
        &self,
        agent: &str,
    ) -> Option<(AgentDesired, HashSet<String>, HashSet<String>, bool)> {
        let site = self.agents.get(agent)?;
        let names = self.by_agent.get(agent);
        let cameras: Vec<AgentCamera> = names
            .into_iter()
            .flatten()
            .filter_map(|c| self.cams.get(c)?.runs.clone())
            .collect();
        let former = self.by_former.get(agent);
        let holds = self
            .holds
            .iter()
            .filter(|h| {
                h.cameras.iter().any(|c| {
                    names.is_some_and(|n| n.contains(c.as_str()))
                        || former.is_some_and(|n| n.contains(c.as_str()))
                })
            })
            .cloned()
            .collect();
        let assigned = names.into_iter().flatten().cloned().collect();
        let formerly = former.into_iter().flatten().cloned().collect();
        let reads_plates = names
            .into_iter()
            .flatten()
            .any(|c| self.cams.get(c).is_some_and(|r| r.alpr));
        Some((
            AgentDesired {
                agent: agent.to_string(),
                site: site.clone(),
                cameras,
                holds,
            },
            assigned,
            formerly,
            reads_plates,
        ))
    }
}

/// The index as last built.
pub(super) struct Built {
    /// The last fleet change (cache sequence number) taken in.
    pub through: u64,
    /// Its inputs.
    pub rows: Rows,
    /// Its entries.
    pub map: Arc<DesiredMap>,
}

/// Rebuilds the entries of the `touched` agents from `rows` into `map`, keeping
/// an old entry where nothing it holds changed; returns the agents whose pushed
/// JSON, or whether they are sent hotlists, changed (added and removed ones
/// included), sorted.
pub fn rebuild(
    map: &mut DesiredMap,
    rows: &Rows,
    touched: &BTreeSet<String>,
) -> serde_json::Result<Vec<String>> {
    let mut changed = Vec::new();
    for a in touched {
        let Some((desired, assigned, formerly, reads_plates)) = rows.entry(a) else {
            if map.remove(a).is_some() {
                changed.push(a.clone());
            }
            continue;
        };
        let old = map.get(a);
        if old.is_some_and(|e| {
            e.desired == desired
                && e.assigned == assigned
                && e.formerly == formerly
                && e.reads_plates == reads_plates
        }) {
            continue;
        }
        let json = match old {
            Some(e) if e.desired == desired => e.json.clone(),
            _ => serde_json::to_vec(&desired)?,
        };
        if old.is_none_or(|e| e.json != json || e.reads_plates != reads_plates) {
            changed.push(a.clone());
        }
        map.insert(
            a.clone(),
            Arc::new(DesiredEntry {
                desired,
                json,
                assigned,
                formerly,
                reads_plates,
            }),
        );
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an agent runs for camera `id`.
    fn runs(id: &str) -> AgentCamera {
        AgentCamera {
            id: id.into(),
            main_url: format!("rtsp://127.0.0.1/{id}"),
            sub_url: None,
            recording: true,
            retention_days: 30,
            alpr: false,
            alpr_fps: None,
            location: None,
            mobile: false,
        }
    }

    fn entry(agent: &str, cameras: &[&str]) -> Arc<DesiredEntry> {
        let desired = AgentDesired {
            agent: agent.into(),
            site: "hq".into(),
            cameras: cameras.iter().map(|c| runs(c)).collect(),
            holds: Vec::new(),
        };
        let json = serde_json::to_vec(&desired).unwrap();
        Arc::new(DesiredEntry {
            desired,
            json,
            assigned: cameras.iter().map(|c| c.to_string()).collect(),
            formerly: HashSet::new(),
            reads_plates: false,
        })
    }

    fn map(entries: &[(&str, &[&str])]) -> DesiredMap {
        entries
            .iter()
            .map(|(a, cams)| (a.to_string(), entry(a, cams)))
            .collect()
    }

    #[test]
    fn only_agents_whose_config_changed_are_woken() {
        let old = map(&[("a", &["c1"]), ("b", &["c2"]), ("c", &[]), ("gone", &[])]);
        // A rebuild makes new entries for everyone: equal ones are not changes.
        let new = map(&[
            ("a", &["c1"]),
            ("b", &["c2", "c3"]),
            ("c", &[]),
            ("new", &[]),
        ]);
        assert_eq!(changed_agents(&old, &new), ["b", "gone", "new"]);
        assert!(changed_agents(&new, &new).is_empty());
        assert!(changed_agents(
            &old,
            &map(&[("a", &["c1"]), ("b", &["c2"]), ("c", &[]), ("gone", &[])])
        )
        .is_empty());
        // A camera moved between agents wakes both.
        let moved = map(&[("a", &[]), ("b", &["c2", "c1"]), ("c", &[]), ("gone", &[])]);
        assert_eq!(changed_agents(&old, &moved), ["a", "b"]);
        assert_eq!(
            changed_agents(&DesiredMap::new(), &old),
            ["a", "b", "c", "gone"]
        );
    }

    #[tokio::test]
    async fn a_wake_reaches_the_agents_sessions_and_no_other() {
        let index = DesiredIndex::default();
        let (mut a1, mut a2, mut b) = (
            index.subscribe("a"),
            index.subscribe("a"),
            index.subscribe("b"),
        );
        assert_eq!(index.wake(["a", "nobody"]), 1);
        let soon = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(soon, a1.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, a2.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, b.changed()).await.is_err());
        assert_eq!(index.wake_all(), 2);
        assert!(tokio::time::timeout(soon, b.changed()).await.is_ok());
        // The agent is forgotten with its last session only.
        drop(a1);
        assert_eq!(index.wake(["a"]), 1);
        drop(a2);
        assert_eq!(index.wake(["a"]), 0);
        drop(b);
        assert_eq!(index.wake_all(), 0);
    }

    fn cam(agent: &str, active: bool) -> Option<CamRow> {
        Some(CamRow {
            agent: Some(agent.into()),
            former: vec![],
            alpr: false,
            runs: active.then(|| runs("")),
        })
    }

    fn named(mut r: Option<CamRow>, id: &str) -> Option<CamRow> {
        if let Some(c) = r.as_mut().and_then(|r| r.runs.as_mut()) {
            c.id = id.into();
        }
        r
    }

    fn hold(cams: &[&str]) -> LegalHoldSpec {
        serde_json::from_value(serde_json::json!({
            "case_number": "2026-0001",
            "reason": "criminal_investigation",
            "cameras": cams,
            "from": "2026-01-01T00:00:00Z",
            "until": "2026-01-02T00:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn a_moved_cameras_holds_reach_the_gateway_that_keeps_its_older_recordings() {
        let mut rows = Rows::default();
        let mut t = BTreeSet::new();
        rows.set_agent("a", Some("hq".into()), &mut t);
        rows.set_agent("b", Some("hq".into()), &mut t);
        // c1 moved from a to b (its status remembers a).
        let mut moved = named(cam("b", true), "c1");
        moved.as_mut().unwrap().former = vec!["a".into()];
        rows.set_camera("c1", moved, &mut t);
        let mut map = DesiredMap::new();
        rebuild(&mut map, &rows, &t).unwrap();
        assert!(map["a"].desired.cameras.is_empty(), "a runs it no more");
        assert!(!map["a"].assigned.contains("c1"), "nor speaks for it");
        // A hold on c1 touches and reaches both.
        let mut t = BTreeSet::new();
        rows.set_holds(vec![hold(&["c1"])], &mut t);
        assert_eq!(t, BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["a", "b"]);
        assert_eq!(
            map["a"].desired.holds.len(),
            1,
            "a keeps c1's older recordings"
        );
        assert_eq!(map["b"].desired.holds.len(), 1);
        // Forgotten (the list's oldest dropped), a is touched and its hold goes.
        let mut t = BTreeSet::new();
        rows.set_camera("c1", named(cam("b", true), "c1"), &mut t);
        assert!(t.contains("a"));
        rebuild(&mut map, &rows, &t).unwrap();
        assert!(map["a"].desired.holds.is_empty());
    }

    #[test]
    fn a_changed_input_touches_only_the_agents_it_concerns() {
        let mut rows = Rows::default();
        let mut t = BTreeSet::new();
        rows.set_agent("a", Some("hq".into()), &mut t);
        rows.set_agent("b", Some("depot".into()), &mut t);
        rows.set_camera("c1", named(cam("a", true), "c1"), &mut t);
        rows.set_camera("c2", named(cam("b", false), "c2"), &mut t);
        let mut map = DesiredMap::new();
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["a", "b"]);
        assert_eq!(map["a"].desired.cameras.len(), 1);
        assert!(map["b"].desired.cameras.is_empty());
        assert!(map["b"].assigned.contains("c2"));

        // Activating b's camera touches b only; a keeps its very entry.
        let before = map["a"].clone();
        let mut t = BTreeSet::new();
        rows.set_camera("c2", named(cam("b", true), "c2"), &mut t);
        assert_eq!(t, BTreeSet::from(["b".to_string()]));
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);
        assert!(Arc::ptr_eq(&before, &map["a"]));

        // A camera moved from a to b touches both.
        let mut t = BTreeSet::new();
        rows.set_camera("c1", named(cam("b", true), "c1"), &mut t);
        assert_eq!(t.len(), 2);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["a", "b"]);
        let ids: Vec<&str> = map["b"]
            .desired
            .cameras
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["c1", "c2"], "cameras in name order");

        // A hold on c2 touches b; released, b again; a hold on a camera nobody runs touches none.
        let mut t = BTreeSet::new();
        rows.set_holds(vec![hold(&["c2"]), hold(&["nowhere"])], &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);
        assert_eq!(map["b"].desired.holds.len(), 1);
        let mut t = BTreeSet::new();
        rows.set_holds(vec![hold(&["nowhere"])], &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);

        // A hold on a camera that no longer runs (suspended, retired) still reaches
        // its agent: the recordings are on the gateway, and would age out there.
        let mut t = BTreeSet::new();
        rows.set_camera("c2", named(cam("b", false), "c2"), &mut t);
        rows.set_holds(vec![hold(&["c2"])], &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);
        assert!(!map["b"].desired.cameras.iter().any(|c| c.id == "c2"));
        assert_eq!(map["b"].desired.holds.len(), 1, "the hold reaches b");
        let mut t = BTreeSet::new();
        rows.set_holds(vec![], &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);

        // An agent removed leaves the map; its cameras stay assigned to its name.
        let mut t = BTreeSet::new();
        rows.set_agent("b", None, &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["b"]);
        assert!(!map.contains_key("b"));
        assert!(rows.all_agents().contains("b"));

        // A camera deleted touches its agent.
        let mut t = BTreeSet::new();
        rows.set_agent("b", Some("depot".into()), &mut t);
        rows.set_camera("c2", None, &mut t);
        rebuild(&mut map, &rows, &t).unwrap();
        assert_eq!(map["b"].desired.cameras.len(), 1);
    }

    #[test]
    fn an_unchanged_rebuild_changes_nothing() {
        let mut rows = Rows::default();
        let mut t = BTreeSet::new();
        rows.set_agent("a", Some("hq".into()), &mut t);
        rows.set_camera("c1", named(cam("a", true), "c1"), &mut t);
        let mut map = DesiredMap::new();
        rebuild(&mut map, &rows, &t).unwrap();
        let before = map["a"].clone();
        assert!(rebuild(&mut map, &rows, &rows.all_agents())
            .unwrap()
            .is_empty());
        assert!(Arc::ptr_eq(&before, &map["a"]));
    }

    #[test]
    fn a_hotlist_change_concerns_the_alpr_agents_only() {
        let mut rows = Rows::default();
        let mut t = BTreeSet::new();
        rows.set_agent("lpr", Some("hq".into()), &mut t);
        rows.set_agent("plain", Some("hq".into()), &mut t);
        rows.set_agent("idle", Some("hq".into()), &mut t);
        rows.set_agent("approved", Some("hq".into()), &mut t);
        let reader = |agent: &str, active: bool, id: &str| {
            let mut r = named(cam(agent, active), id);
            if let Some(r) = r.as_mut() {
                r.alpr = true;
                if let Some(c) = r.runs.as_mut() {
                    c.alpr = true;
                }
            }
            r
        };
        rows.set_camera("c1", reader("lpr", true, "c1"), &mut t);
        rows.set_camera("c2", named(cam("plain", true), "c2"), &mut t);
        // A reader approved but not yet live: its gateway gets the lists first.
        rows.set_camera("c3", reader("approved", false, "c3"), &mut t);
        let mut map = DesiredMap::new();
        rebuild(&mut map, &rows, &t).unwrap();
        assert_eq!(alpr_agents(&map), ["approved", "lpr"]);
        assert!(map["approved"].desired.cameras.is_empty());
        // The reader moves away: its old gateway is no longer sent lists.
        let mut t = BTreeSet::new();
        rows.set_camera("c3", reader("lpr", false, "c3"), &mut t);
        assert_eq!(rebuild(&mut map, &rows, &t).unwrap(), ["approved"]);
        assert_eq!(alpr_agents(&map), ["lpr"]);
        assert!(alpr_agents(&DesiredMap::new()).is_empty());
    }
}
