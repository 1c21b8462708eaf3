//! What the agent counts and logs, as named events (Vector's habit, as in the
//! controller's `core::events`): each event says in one place which log line it
//! writes and which health counter it moves, so a counter and its log line never
//! drift apart, and a grep for the event finds every place it happens.
//!
//! Camera events act on the camera's [`CameraHealth`] (read by the health report
//! and `/metrics`); plate-reading events on its [`AlprCounters`]. Per-frame
//! events (a frame received, a frame dropped) move counters and log nothing.

use crate::health::{AlprCounters, CameraHealth, CameraState};
use std::sync::atomic::Ordering;

/// An event about one camera's stream and recording.
pub trait CameraEvent {
    /// Logs it and moves its counters.
    fn emit(self, h: &mut CameraHealth);
}

/// An event about one camera's plate reading.
pub trait AlprEvent {
    /// Logs it and moves its counters.
    fn emit(self, c: &AlprCounters);
}

impl CameraHealth {
    /// Emits a named camera event.
    pub fn emit(&mut self, e: impl CameraEvent) {
        e.emit(self);
    }
}

impl AlprCounters {
    /// Emits a named plate-reading event.
    pub fn emit(&self, e: impl AlprEvent) {
        e.emit(self);
    }
}

/// A connection to the camera ended (or never got video).
pub struct SessionEnded<'a> {
    /// Why, when it ended with an error (a stop asked for is not one).
    pub error: Option<&'a crate::AgentError>,
    /// Whether video arrived before it ended; a session without any counts as
    /// a failed connection attempt.
    pub delivered: bool,
}

impl CameraEvent for SessionEnded<'_> {
    fn emit(self, h: &mut CameraHealth) {
        h.state = CameraState::Offline;
        if !self.delivered {
            h.failures += 1;
        }
        if let Some(e) = self.error {
            tracing::warn!(camera = %h.id, error = %e, "camera session ended");
            h.last_error = Some(e.to_string());
        }
    }
}

/// Video arrived again after the stream had dropped.
pub struct StreamReconnected;

impl CameraEvent for StreamReconnected {
    fn emit(self, h: &mut CameraHealth) {
        tracing::info!(camera = %h.id, reconnects = h.reconnects + 1, "camera stream back");
        h.reconnects += 1;
    }
}

/// A recording segment was completed and indexed.
pub struct SegmentCommitted;

impl CameraEvent for SegmentCommitted {
    fn emit(self, h: &mut CameraHealth) {
        h.segments_written += 1;
        tracing::debug!(camera = %h.id, segments = h.segments_written, "segment committed");
    }
}

/// A recording segment could not be completed (its video is lost).
pub struct SegmentFailed<'a> {
    /// Why.
    pub error: &'a crate::AgentError,
}

impl CameraEvent for SegmentFailed<'_> {
    fn emit(self, h: &mut CameraHealth) {
        tracing::error!(camera = %h.id, error = %self.error, "segment not committed");
        h.last_error = Some(format!("segment: {}", self.error));
    }
}

/// The plate decoder could not take a packet in time (its queue was full).
pub struct PacketDropped;

impl AlprEvent for PacketDropped {
    fn emit(self, c: &AlprCounters) {
        c.packets_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The plate reader could not take a sampled frame in time.
pub struct FrameDropped;

impl AlprEvent for FrameDropped {
    fn emit(self, c: &AlprCounters) {
        c.frames_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The plate reader read a frame.
pub struct FrameRead;

impl AlprEvent for FrameRead {
    fn emit(self, c: &AlprCounters) {
        c.frames_read.fetch_add(1, Ordering::Relaxed);
    }
}

/// The plate reader's detector looked at a frame: `windows` windows of it where
/// something moved or a pass was expected, or the whole frame (`windows` 1).
pub struct Looked {
    /// Detector calls (first looks) it took.
    pub windows: usize,
}

impl AlprEvent for Looked {
    fn emit(self, c: &AlprCounters) {
        c.detector_calls
            .fetch_add(self.windows as u64, Ordering::Relaxed);
    }
}

/// Nothing moved in a sampled frame and no pass was open: not looked at.
pub struct FrameStill;

impl AlprEvent for FrameStill {
    fn emit(self, c: &AlprCounters) {
        c.frames_still.fetch_add(1, Ordering::Relaxed);
    }
}

/// A merged plate read was stored.
pub struct PlateStored<'a> {
    /// The camera.
    pub camera: &'a str,
    /// How many hotlist entries it matched.
    pub hits: usize,
}

impl AlprEvent for PlateStored<'_> {
    fn emit(self, c: &AlprCounters) {
        c.plates_read.fetch_add(1, Ordering::Relaxed);
        // No plate text in the log: the read's record holds it, behind the
        // controller's audited door.
        tracing::debug!(camera = self.camera, hits = self.hits, "plate read stored");
    }
}

/// Plate reading failed at one stage (decoder, format, reader, store); kept as
/// the camera's last ALPR error.
pub struct AlprFailed<'a> {
    /// The camera.
    pub camera: &'a str,
    /// The stage: `decoder`, `format`, `read`, `store`.
    pub stage: &'static str,
    /// What went wrong.
    pub error: &'a dyn std::fmt::Display,
}

impl AlprEvent for AlprFailed<'_> {
    fn emit(self, c: &AlprCounters) {
        let msg = format!("alpr {}: {}", self.stage, self.error);
        let mut last = c.last_error.lock().unwrap_or_else(|e| e.into_inner());
        // A failure that repeats frame after frame is logged once.
        if last.as_deref() != Some(msg.as_str()) {
            tracing::warn!(camera = self.camera, stage = self.stage, error = %self.error, "plate reading failed");
            *last = Some(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_events_move_their_counters() {
        let mut h = CameraHealth::connecting("cam-1");
        h.state = CameraState::Online;
        h.emit(SessionEnded {
            error: None,
            delivered: false,
        });
        assert_eq!((h.state, h.failures), (CameraState::Offline, 1));
        let e = crate::AgentError::EndOfStream;
        h.emit(SessionEnded {
            error: Some(&e),
            delivered: true,
        });
        assert_eq!(
            h.failures, 1,
            "a session that delivered video is no failure"
        );
        assert_eq!(h.last_error.as_deref(), Some(e.to_string().as_str()));
        h.emit(StreamReconnected);
        h.emit(SegmentCommitted);
        h.emit(SegmentCommitted);
        assert_eq!((h.reconnects, h.segments_written), (1, 2));
        h.emit(SegmentFailed { error: &e });
        assert!(h.last_error.as_deref().unwrap().starts_with("segment: "));
    }

    #[test]
    fn alpr_events_move_their_counters() {
        let c = AlprCounters::default();
        c.emit(PacketDropped);
        c.emit(FrameDropped);
        c.emit(FrameDropped);
        c.emit(FrameRead);
        c.emit(PlateStored {
            camera: "cam-1",
            hits: 0,
        });
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        assert_eq!(load(&c.packets_dropped), 1);
        assert_eq!(load(&c.frames_dropped), 2);
        assert_eq!(load(&c.frames_read), 1);
        assert_eq!(load(&c.plates_read), 1);
        c.emit(AlprFailed {
            camera: "cam-1",
            stage: "read",
            error: &"bad tensor",
        });
        assert_eq!(
            c.last_error.lock().unwrap().as_deref(),
            Some("alpr read: bad tensor")
        );
    }
}
