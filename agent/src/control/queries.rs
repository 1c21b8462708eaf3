//! Answers to the controller's queries, by kind: plate reads, a camera's segment
//! list, a slice of one segment file, one read's crop, and the next chunk of a
//! recorded range remuxed to fragmented MP4 ([`crate::playback`]). Each answer is
//! (JSON, bytes) or why not; the session sends it back as a `QueryAnswer`.

use std::io::{Read, Seek};

use camplane_config::model::{
    CropQuery, ReadQuery, SegmentChunkQuery, SegmentInfo, SegmentsQuery, MAX_CHUNK,
};

use crate::supervisor::Supervisor;
use camplane_proto::kinds::QueryKind;

/// An answer: (JSON, bytes), or why not.
pub type Answer = std::result::Result<(Vec<u8>, Vec<u8>), String>;

/// Answers a query of the kind named `kind` on the wire with its JSON body.
pub fn answer(sup: &Supervisor, kind: &str, json: &[u8]) -> Answer {
    match QueryKind::parse(kind) {
        Some(QueryKind::Reads) => Ok((reads(sup, json)?, vec![])),
        Some(QueryKind::Segments) => segments(sup, json),
        Some(QueryKind::SegmentChunk) => segment_chunk(sup, json),
        Some(QueryKind::Crop) => crop(sup, json),
        Some(QueryKind::Playback) => {
            let q: camplane_config::model::PlaybackQuery =
                serde_json::from_slice(json).map_err(|e| format!("query: {e}"))?;
            sup.playbacks().answer(&sup.index(), &q)
        }
        // Opened by the session itself (it starts the media call): see
        // `Session::open_live`.
        Some(QueryKind::LiveOpen) => Err("live_open is answered by the session".into()),
        None => Err(format!("unknown query kind {kind:?}")),
    }
}

/// The reads matching the query, as JSON (no crop bytes: crops are fetched one
/// by one, each fetch audited).
fn reads(sup: &Supervisor, json: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let q: ReadQuery = serde_json::from_slice(json).map_err(|e| format!("query: {e}"))?;
    let reads = if q.is_pattern() {
        sup.reads().find_pattern(&q.plate, q.from, q.until, q.limit)
    } else {
        let mut r = sup.reads().find(&q.plate, q.from, q.until);
        r.truncate(q.limit);
        r
    };
    serde_json::to_vec(&reads).map_err(|e| e.to_string())
}

/// A camera's segments in a time range, with their hashes (an export's file list).
fn segments(sup: &Supervisor, json: &[u8]) -> Answer {
    let q: SegmentsQuery = serde_json::from_slice(json).map_err(|e| format!("query: {e}"))?;
    let idx = sup.index();
    let idx = idx.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<SegmentInfo> = idx
        .find(&q.camera, q.from, q.until)
        .into_iter()
        .map(|e| SegmentInfo {
            seq: e.seq,
            name: e.file_name(),
            start: e.start(),
            end: e.end(),
            size: e.size,
            sha256: hex::encode(e.sha256),
            prev_sha256: hex::encode(e.prev_sha256),
        })
        .collect();
    Ok((
        serde_json::to_vec(&list).map_err(|e| e.to_string())?,
        vec![],
    ))
}

/// At most [`MAX_CHUNK`] bytes of one segment file from an offset.
fn segment_chunk(sup: &Supervisor, json: &[u8]) -> Answer {
    let q: SegmentChunkQuery = serde_json::from_slice(json).map_err(|e| format!("query: {e}"))?;
    // The index names the file: a camera or segment it does not know is refused.
    let path = {
        let idx = sup.index();
        let idx = idx.lock().unwrap_or_else(|e| e.into_inner());
        let e = idx
            .segments(&q.camera)
            .iter()
            .find(|e| e.seq == q.seq)
            .copied()
            .ok_or_else(|| format!("no segment {} of camera {:?}", q.seq, q.camera))?;
        idx.segment_path(&q.camera, &e)
    };
    let mut f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.seek(std::io::SeekFrom::Start(q.offset))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(q.len.min(MAX_CHUNK))
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((vec![], buf))
}

/// One read's crop (JPEG bytes) with its camera, plate and time.
fn crop(sup: &Supervisor, json: &[u8]) -> Answer {
    let q: CropQuery = serde_json::from_slice(json).map_err(|e| format!("query: {e}"))?;
    let reads = sup.reads();
    let r = reads
        .get(&q.read_id)
        .ok_or_else(|| "not found".to_string())?;
    let path = reads
        .crop_path(&r)
        .ok_or_else(|| "the read has no crop".to_string())?;
    let jpeg = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = serde_json::json!({"camera": r.camera, "plate": r.plate, "time": r.time});
    Ok((serde_json::to_vec(&meta).map_err(|e| e.to_string())?, jpeg))
}
