//! Segment writer: remuxes packets (never re-encodes) into MPEG-TS segments.
//!
//! Why MPEG-TS rather than fragmented MP4: every 188-byte TS packet stands on
//! its own, so a file cut anywhere is playable up to the cut with no index or
//! moov to repair; SPS/PPS travel in-band, so a camera that changes resolution
//! mid-stream needs no new init segment; and with `flush_packets=1` each video
//! packet reaches the kernel as soon as it is written. A killed agent loses at
//! most the packet being written (an fMP4 writer with `frag_keyframe` loses the
//! whole unflushed fragment, up to one GOP). The cost is ~2-5% container
//! overhead, and browsers need HLS (which takes TS as is) or a remux to play.
//!
//! Lifecycle: written as `<start_ms>-<nonce>.ts.part`, then trailer, fsync,
//! SHA-256, rename to `.ts`, fsync the directory, then the index record (which
//! holds the previous segment's hash). A crash between rename and index, or a
//! leftover `.part`, is picked up by [`recover`] at the next start.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ff::{codec, format, Rational};
use ffmpeg_next as ff;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::error::{AgentError, Result};
use crate::index::{parse_segment_file_name, segment_file_name, Entry, Index};

/// An open segment being filled.
pub struct SegmentWriter {
    octx: format::context::Output,
    tmp: PathBuf,
    start: Timestamp,
    nonce: u32,
    in_tb: Rational,
    out_tb: Rational,
    offset: Option<i64>,
    last_dts: Option<i64>,
    first_secs: Option<f64>,
    packets: u64,
    dropped: u64,
    /// Parameter set seen at this segment's first keyframe (resolution-change detection).
    pub sps: Option<Vec<u8>>,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("tmp", &self.tmp)
            .field("packets", &self.packets)
            .finish()
    }
}

impl SegmentWriter {
    /// Opens `<dir>/<start_ms>-<nonce>.ts.part` for a stream with `params` in time base `in_tb`.
    pub fn create(
        dir: &Path,
        start: Timestamp,
        params: codec::Parameters,
        in_tb: Rational,
    ) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| AgentError::io("create", dir, e))?;
        let nonce: u32 = rand::random();
        let tmp = dir.join(format!(
            "{}.part",
            segment_file_name(start.as_millisecond(), nonce)
        ));
        let mut octx =
            format::output_as(&tmp, "mpegts").map_err(|e| AgentError::ffmpeg("open segment", e))?;
        {
            let mut ost = octx
                .add_stream(ff::encoder::find(codec::Id::None))
                .map_err(|e| AgentError::ffmpeg("add stream", e))?;
            ost.set_parameters(params);
            ost.set_time_base(in_tb);
        }
        let mut opts = ff::Dictionary::new();
        // Every packet reaches the file when written: a kill loses at most one packet.
        opts.set("flush_packets", "1");
        octx.write_header_with(opts)
            .map_err(|e| AgentError::ffmpeg("write header", e))?;
        let out_tb = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(Rational(1, 90_000));
        Ok(SegmentWriter {
            octx,
            tmp,
            start,
            nonce,
            in_tb,
            out_tb,
            offset: None,
            last_dts: None,
            first_secs: None,
            packets: 0,
            dropped: 0,
            sps: None,
        })
    }

    /// Seconds of stream time between this segment's first packet and `secs`.
    pub fn elapsed(&self, secs: f64) -> f64 {
        self.first_secs.map(|f| secs - f).unwrap_or(0.0)
    }

    /// When the segment started (wall clock, as opened).
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Seconds of stream time between its first and last packets written.
    pub fn stream_span(&self) -> Option<f64> {
        Some(self.last_secs()? - self.first_secs?).filter(|s| s.is_finite() && *s >= 0.0)
    }

    /// The stream time (seconds, input time base) of the last packet written.
    pub fn last_secs(&self) -> Option<f64> {
        match (self.last_dts, self.offset) {
            (Some(l), Some(o)) => Some((l + o) as f64 * f64::from(self.in_tb)),
            _ => None,
        }
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets refused for missing or backward timestamps.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Writes one packet of the input stream (timestamps in the input time base).
    /// Returns false if the packet was dropped for unusable timestamps.
    pub fn write(&mut self, pkt: &mut ff::Packet) -> Result<bool> {
        let (pts, dts) = match (pkt.pts(), pkt.dts()) {
            (Some(p), Some(d)) => (p, d),
            // No DTS mid-segment: just after the last one (dropped below if that breaks pts >= dts).
            (Some(p), None) => match (self.last_dts, self.offset) {
                (Some(l), Some(o)) => (p, l + o + 1),
                _ => {
                    self.dropped += 1;
                    return Ok(false);
                }
            },
            (None, Some(d)) => (d, d),
            (None, None) => {
                self.dropped += 1;
                return Ok(false);
            }
        };
        let offset = *self.offset.get_or_insert(dts.min(pts));
        if self.first_secs.is_none() {
            self.first_secs = Some(dts as f64 * f64::from(self.in_tb));
        }
        let (pts, dts) = (pts - offset, dts - offset);
        if dts < 0 || pts < dts || self.last_dts.is_some_and(|l| dts <= l) {
            self.dropped += 1;
            return Ok(false);
        }
        self.last_dts = Some(dts);
        pkt.set_pts(Some(pts));
        pkt.set_dts(Some(dts));
        pkt.set_stream(0);
        pkt.set_position(-1);
        pkt.rescale_ts(self.in_tb, self.out_tb);
        pkt.write(&mut self.octx)
            .map_err(|e| AgentError::ffmpeg("write packet", e))?;
        self.packets += 1;
        Ok(true)
    }

    /// Closes the segment, hashes it, gives it its final name and indexes it.
    pub fn finish(mut self, camera: &str, end: Timestamp, index: &Mutex<Index>) -> Result<Entry> {
        self.octx
            .write_trailer()
            .map_err(|e| AgentError::ffmpeg("write trailer", e))?;
        let SegmentWriter {
            octx,
            tmp,
            start,
            nonce,
            ..
        } = self;
        drop(octx); // closes the file
        commit(camera, &tmp, start, end, nonce, index)
    }

    /// Abandons the segment without finalizing it (what a crash leaves behind).
    pub fn abandon(self) -> PathBuf {
        self.tmp
    }
}

/// fsync, hash, rename `.part` to `.ts`, fsync dir, index.
fn commit(
    camera: &str,
    tmp: &Path,
    start: Timestamp,
    end: Timestamp,
    nonce: u32,
    index: &Mutex<Index>,
) -> Result<Entry> {
    let (size, sha256) = hash_file(tmp)?;
    let final_path = tmp.with_extension(""); // strips ".part"
    fs::rename(tmp, &final_path).map_err(|e| AgentError::io("rename", tmp, e))?;
    if let Some(dir) = final_path.parent() {
        crate::fs::sync_dir(dir).map_err(|e| AgentError::io("fsync dir", dir, e))?;
    }
    let end = end.max(start);
    index.lock().unwrap_or_else(|e| e.into_inner()).append(
        camera,
        start.as_millisecond(),
        end.as_millisecond(),
        size,
        nonce,
        sha256,
    )
}

/// (size, SHA-256) of a file, after fsyncing it.
pub fn hash_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut f = File::open(path).map_err(|e| AgentError::io("open", path, e))?;
    f.sync_all().map_err(|e| AgentError::io("fsync", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| AgentError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, h.finalize().into()))
}

/// Indexes what a crash left in a camera's directory: `.part` files (playable up
/// to the last flushed packet) and `.ts` files that were renamed but not indexed.
/// Their end time is the file's modification time. Returns the entries added.
pub fn recover(camera: &str, index: &Mutex<Index>) -> Result<Vec<Entry>> {
    let (dir, known) = {
        let idx = index.lock().unwrap_or_else(|e| e.into_inner());
        let known: std::collections::HashSet<String> =
            idx.segments(camera).iter().map(|e| e.file_name()).collect();
        (idx.camera_dir(camera), known)
    };
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AgentError::io("read dir", &dir, e)),
    };
    let mut found = Vec::new();
    for de in rd.flatten() {
        let name = de.file_name().to_string_lossy().into_owned();
        if known.contains(&name) {
            continue;
        }
        let Some((start_ms, nonce)) = parse_segment_file_name(&name) else {
            continue;
        };
        let meta = de
            .metadata()
            .map_err(|e| AgentError::io("stat", de.path(), e))?;
        if meta.len() == 0 {
            let _ = fs::remove_file(de.path());
            continue;
        }
        let end = meta
            .modified()
            .ok()
            .and_then(|m| Timestamp::try_from(m).ok());
        found.push((start_ms, nonce, name, end));
    }
    found.sort();
    let mut out = Vec::new();
    for (start_ms, nonce, name, end) in found {
        let start = Timestamp::from_millisecond(start_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let path = dir.join(&name);
        let tmp = if name.ends_with(".part") {
            path
        } else {
            // Already renamed: give commit a .part to rename back from.
            let p = dir.join(format!("{name}.part"));
            fs::rename(&path, &p).map_err(|e| AgentError::io("rename", &path, e))?;
            p
        };
        tracing::warn!(camera, file = %name, "recovering segment left by a crash");
        out.push(commit(
            camera,
            &tmp,
            start,
            end.unwrap_or(start),
            nonce,
            index,
        )?);
    }
    Ok(out)
}

/// Whether an Annex-B packet holds an IDR picture (H.264 type 5, HEVC IRAP 16-21).
/// RTSP parsers also flag parameter-set-only packets as key; a segment must start
/// on a picture that decodes alone.
pub fn annexb_has_idr(data: &[u8], hevc: bool) -> bool {
    data.windows(4).any(|w| {
        w[0] == 0 && w[1] == 0 && w[2] == 1 && {
            let h = w[3];
            if hevc {
                (16..=21).contains(&((h >> 1) & 0x3f))
            } else {
                h & 0x1f == 5
            }
        }
    })
}

/// The SPS NAL units in an Annex-B packet (H.264 type 7, HEVC type 33), concatenated.
/// A change between keyframes means new stream parameters (e.g. resolution).
pub fn annexb_sps(data: &[u8], hevc: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    let starts: Vec<usize> = {
        let mut v = Vec::new();
        while i + 3 <= data.len() {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                v.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        v
    };
    for (k, &s) in starts.iter().enumerate() {
        let Some(&h) = data.get(s) else { continue };
        let is_sps = if hevc {
            (h >> 1) & 0x3f == 33
        } else {
            h & 0x1f == 7
        };
        if is_sps {
            let mut e = starts.get(k + 1).map(|n| n - 3).unwrap_or(data.len());
            while e > s && data[e - 1] == 0 {
                e -= 1;
            }
            out.extend_from_slice(&data[s..e]);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sps_extraction() {
        let pkt = [
            0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 0, 1, 0x68, 9, 0, 0, 1, 0x65, 7,
        ];
        assert_eq!(annexb_sps(&pkt, false), Some(vec![0x67, 1, 2, 3]));
        assert_eq!(annexb_sps(&[0, 0, 1, 0x65, 1], false), None);
        assert!(annexb_has_idr(&pkt, false));
        assert!(!annexb_has_idr(
            &[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x41, 2],
            false
        ));
        assert_eq!(
            annexb_sps(&[0, 0, 1, 0x42, 1, 0, 0, 1, 0x26], true),
            Some(vec![0x42, 1])
        );
    }

    #[test]
    fn recover_indexes_parts_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let index = Mutex::new(Index::open(dir.path()).unwrap());
        let cam_dir = index.lock().unwrap().camera_dir("c");
        fs::create_dir_all(&cam_dir).unwrap();
        fs::write(cam_dir.join("1000-0000000a.ts.part"), b"partial").unwrap();
        fs::write(cam_dir.join("500-0000000b.ts"), b"orphan").unwrap();
        fs::write(cam_dir.join("junk.txt"), b"x").unwrap();
        let got = recover("c", &index).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].start_ms, 500);
        assert_eq!(got[1].prev_sha256, got[0].sha256);
        assert!(cam_dir.join("1000-0000000a.ts").exists());
        assert!(recover("c", &index).unwrap().is_empty(), "idempotent");
    }
}
