//! One agent's session on its control stream: the desired config pushed whenever
//! the agent's own changes (woken by [`super::Fleet::wake_on_changes`]), hotlist updates, reports stored and acknowledged, query
//! answers handed to the hub; a revoked agent's session ends. Reports about
//! cameras not assigned to the agent are refused (audited once per camera per
//! session, counted) and acknowledged, so they never reach the store.

use super::Fleet;
use crate::alpr::search::Hub;
use crate::core::Controller;
use camplane_proto::v1 as pb;
use std::sync::Arc;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Runs an agent's session until either side ends it or the controller stops.
pub async fn run(
    fleet: Arc<Fleet>,
    id: crate::fleet::AgentIdentity,
    mut inbound: tonic::Streaming<pb::AgentMessage>,
    tx: Sender<Result<pb::ControllerMessage, Status>>,
    cancel: CancellationToken,
) {
    let agent = id.name.clone();
    // Only a change to this agent's desired config, or to a hotlist when the
    // agent reads plates, wakes a session (fleet::wake_on_changes); taken
    // before the first look below. Other agents are never sent a hotlist.
    let mut wake = fleet.index.subscribe(&agent);
    let mut last_sent: Option<Vec<u8>> = None;
    let mut running_rev = 0i64;
    // Hotlist versions the agent holds, and the versions sent and not yet acknowledged.
    let mut held: std::collections::HashMap<String, u64> = Default::default();
    let mut in_flight: std::collections::HashMap<String, u64> = Default::default();
    let mut hello_seen = false;
    // Foreign cameras whose refusal this session audited already.
    let mut audited_foreign: std::collections::HashSet<String> = Default::default();
    let hub_id = fleet.ctl.wing::<Hub>().connect(&agent, tx.clone());
    // Other controllers find this session through its presence record.
    fleet
        .ctl
        .wing::<Hub>()
        .present(&agent, hub_id, jiff::Timestamp::now())
        .await;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    tracing::info!("agent connected");
    loop {
        // Whether the agent has a camera that reads plates: only then is it sent
        // hotlists (and, without one, told to drop any it holds).
        let reads_plates;
        // Level-triggered: whatever woke us, compare desired with what was sent.
        match fleet.desired_entry(&agent) {
            Ok(entry) => {
                reads_plates = entry.reads_plates;
                let (d, json) = (&entry.desired, entry.json.clone());
                if last_sent.as_ref() != Some(&json) {
                    let revision = fleet.ctl.cache.fleet_revision();
                    if tx
                        .send(Ok(pb::ControllerMessage {
                            msg: Some(pb::controller_message::Msg::Config(pb::AgentConfig {
                                revision,
                                json: json.clone(),
                            })),
                        }))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    if let Err(e) = fleet.audit_push(&agent, revision, d).await {
                        tracing::warn!(error = %e, "could not audit a config push");
                    }
                    last_sent = Some(json);
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                break;
            }
        }
        if hello_seen {
            match hotlist_pushes(&fleet.ctl, reads_plates, &held, &mut in_flight).await {
                Ok(pushes) => {
                    let mut closed = false;
                    for p in pushes {
                        if tx.send(Ok(p)).await.is_err() {
                            closed = true;
                            break;
                        }
                    }
                    if closed {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "hotlist push not prepared; retrying at the next tick")
                }
            }
        }
        tokio::select! {
            _ = tx.closed() => break,
            _ = cancel.cancelled() => break,
            _ = wake.changed() => {}
            _ = tick.tick() => {
                // A revoked agent's session ends within a tick, and so does one
                // whose certificate was replaced or expired. The record is read
                // from the store, not the cache, so a replica whose watch lags
                // ends it too (store reads of many sessions go out together).
                if let Err(e) = fleet.agent_session_allowed(&id).await {
                    let _ = tx.send(Err(e.into())).await;
                    break;
                }
            }
            m = inbound.message() => match m {
                Ok(Some(msg)) => match msg.msg {
                    Some(pb::agent_message::Msg::Hello(h)) => {
                        running_rev = h.config_revision;
                        held = held_lists(h.hotlists);
                        in_flight.clear();
                        hello_seen = true;
                    }
                    Some(pb::agent_message::Msg::Answer(a)) => fleet.ctl.wing::<Hub>().answer(&agent, a),
                    // Only a list pushed to it is acknowledged: made-up names
                    // would grow `held`, walked after every message.
                    Some(pb::agent_message::Msg::HotlistAck(a)) if in_flight.remove(&a.list).is_some() => {
                        if a.version == 0 { held.remove(&a.list); } else { held.insert(a.list, a.version); }
                    }
                    Some(pb::agent_message::Msg::HotlistAck(_)) => {}
                    Some(pb::agent_message::Msg::Ack(a)) => running_rev = a.revision,
                    Some(pb::agent_message::Msg::Report(r)) => {
                        // An agent speaks only for its own cameras (fleet::reports).
                        let (keep, foreign) = match fleet.screen_report(&agent, &r.kind, &r.json) {
                            Ok(x) => x,
                            Err(e) => {
                                tracing::warn!(error = %e, key = %r.key, "report not screened; the agent will resend it");
                                continue;
                            }
                        };
                        if !foreign.is_empty() {
                            if let Err(e) = fleet.refuse_foreign(&agent, &r.kind, &foreign, keep.is_some(), &mut audited_foreign).await {
                                tracing::warn!(error = %e, key = %r.key, "refusal not audited; the agent will resend the report");
                                continue;
                            }
                        }
                        let stored = match keep {
                            Some(json) => fleet.store_report(&agent, &r.key, &r.kind, &json, running_rev).await,
                            // Acknowledged, so the agent's spool lets it go; nothing is stored.
                            None => Ok(false),
                        };
                        match stored {
                            Ok(_) => {
                                let ack = pb::ControllerMessage { msg: Some(pb::controller_message::Msg::ReportAck(pb::ReportAck { key: r.key, controller_time_ms: fleet.ctl.now().as_millisecond() })) };
                                if tx.send(Ok(ack)).await.is_err() { break; }
                            }
                            Err(e) => tracing::warn!(error = %e, key = %r.key, "report not stored; the agent will resend it"),
                        }
                    }
                    None => {}
                },
                Ok(None) => break,
                Err(e) => { tracing::info!(error = %e, "agent stream ended"); break; }
            }
        }
    }
    fleet.ctl.wing::<Hub>().disconnect(&agent, hub_id);
    fleet.ctl.wing::<Hub>().absent(&agent, hub_id).await;
    tracing::info!("agent disconnected");
}

/// Most hotlists an agent's hello may say it holds: every source and category
/// and a month of case lists fit many times over; names past it, and names
/// that are no list's, are not kept (the agent drops what it is not served).
const MAX_HELD_LISTS: usize = 4096;

/// The lists an agent's hello says it holds, as far as they can be lists.
fn held_lists(
    said: impl IntoIterator<Item = (String, u64)>,
) -> std::collections::HashMap<String, u64> {
    said.into_iter()
        .filter(|(l, _)| camplane_config::hotlist::parse_list_name(l).is_some())
        .take(MAX_HELD_LISTS)
        .collect()
}

/// The hotlist updates an agent holding `held` needs, skipping lists with an
/// update already in flight for the same version (level-triggered: a lost
/// update is resent when the agent's acknowledgement says it is still behind).
/// An agent that reads no plates is served no list: hotlists are ALPR data, and
/// a gateway without a reader drops whatever it holds.
async fn hotlist_pushes(
    ctl: &Controller,
    reads_plates: bool,
    held: &std::collections::HashMap<String, u64>,
    in_flight: &mut std::collections::HashMap<String, u64>,
) -> Result<Vec<pb::ControllerMessage>, crate::Error> {
    let mut out = Vec::new();
    let infos = if reads_plates {
        ctl.hotlists()
    } else {
        Vec::new()
    };
    for info in &infos {
        let have = held.get(&info.list).copied().unwrap_or(0);
        if have == info.version || in_flight.get(&info.list) == Some(&info.version) {
            continue;
        }
        let u = ctl.hotlist_update(info, have).await?;
        in_flight.insert(info.list.clone(), info.version);
        out.push(push_msg(&u)?);
    }
    for (list, v) in held {
        if *v > 0 && !infos.iter().any(|i| &i.list == list) && !in_flight.contains_key(list) {
            // Lapsed and deleted lists alike: the agent drops what is not served.
            let Some((source, category, _)) = camplane_config::hotlist::parse_list_name(list)
            else {
                continue;
            };
            let u = camplane_config::hotlist::HotlistUpdate {
                list: list.clone(),
                source,
                category,
                base_version: 0,
                version: 0,
                deleted: true,
                delta: Default::default(),
                expires: None,
            };
            in_flight.insert(list.clone(), 0);
            out.push(push_msg(&u)?);
        }
    }
    Ok(out)
}

fn push_msg(
    u: &camplane_config::hotlist::HotlistUpdate,
) -> Result<pb::ControllerMessage, crate::Error> {
    Ok(pb::ControllerMessage {
        msg: Some(pb::controller_message::Msg::Hotlist(pb::HotlistPush {
            json: serde_json::to_vec(u)?,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hello's list of held hotlists keeps what can be a list, at most
    /// [`MAX_HELD_LISTS`] of them, whatever an agent sends.
    #[test]
    fn a_hello_keeps_only_what_can_be_lists_and_at_most_so_many() {
        let said = ["ncic.stolen_vehicle", "..", "<b>x</b>", "ncic.stolen_car"]
            .into_iter()
            .map(|l| (l.to_string(), 3))
            .chain((0..10_000).map(|i| (format!("custom.investigative.26-{i:05}"), 1)));
        let held = held_lists(said);
        assert_eq!(held.len(), MAX_HELD_LISTS);
        assert_eq!(held.get("ncic.stolen_vehicle"), Some(&3));
        assert!(!held.contains_key(".."));
        assert!(!held.contains_key("ncic.stolen_car"));
    }
}
