//! Answers to the controller's queries, by kind: plate reads, a camera's segment
//! list, a slice of one segment file, one read's crop, and the next chunk of a
//! recorded range remuxed to fragmented MP4 ([`crate::playback`]). Each answer is
//! (JSON, bytes) or why not; the session sends it back as a `QueryAnswer`.

use std::io::{Read, Seek};

use camplane_config::model::{
    CropQuery, MaskedSegment, ReadQuery, SegmentChunkQuery, SegmentInfo, SegmentsQuery, MAX_CHUNK,
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
    let (path, sha256, root) = {
        let idx = sup.index();
        let idx = idx.lock().unwrap_or_else(|e| e.into_inner());
        let e = idx
            .segments(&q.camera)
            .iter()
            .find(|e| e.seq == q.seq)
            .copied()
            .ok_or_else(|| format!("no segment {} of camera {:?}", q.seq, q.camera))?;
        (
            idx.segment_path(&q.camera, &e),
            hex::encode(e.sha256),
            idx.root().to_path_buf(),
        )
    };
    if !q.masks.is_empty() {
        return masked_chunk(&q, &path, &sha256, &root);
    }
    let mut f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.seek(std::io::SeekFrom::Start(q.offset))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(q.len.min(MAX_CHUNK))
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((vec![], buf))
}

/// Masked files kept at once (the last ones asked for, in `{root}/masked/`).
const MASKED_KEPT: usize = 4;

/// A chunk of a segment re-encoded with privacy masks (a masked export). At
/// offset 0 the original is checked against its index hash, masked into
/// `{root}/masked/` (the oldest beyond [`MASKED_KEPT`] removed) and named in
/// the answer's JSON ([`MaskedSegment`]); later offsets read that file.
fn masked_chunk(
    q: &SegmentChunkQuery,
    original: &std::path::Path,
    original_sha256: &str,
    root: &std::path::Path,
) -> Answer {
    use sha2::Digest;
    if let Some((at, why)) = camplane_config::model::privacy_mask_problems(&q.masks)
        .into_iter()
        .next()
    {
        return Err(format!("masked segment: masks: {at}: {why}"));
    }
    let key = serde_json::to_vec(&q.masks).map_err(|e| e.to_string())?;
    let digest = hex::encode(&sha2::Sha256::digest(&key)[..8]);
    let dir = root.join("masked");
    let path = dir.join(format!("{}-{}-{digest}.ts", q.camera, q.seq));
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut json = Vec::new();
    if q.offset == 0 || !path.exists() {
        let bytes = std::fs::read(original).map_err(|e| format!("{}: {e}", original.display()))?;
        if hex::encode(sha2::Sha256::digest(&bytes)) != original_sha256 {
            return Err(format!(
                "{}: its bytes do not match the hash recorded when it was written; not masked",
                original.display()
            ));
        }
        std::fs::create_dir_all(&dir).map_err(shown)?;
        if !path.exists() {
            crate::mask::mask_file(original, &path, &q.masks).map_err(|e| e.to_string())?;
        }
        forget_old_masked(&dir, &path);
        let masked = std::fs::read(&path).map_err(shown)?;
        let stem = original
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("segment");
        json = serde_json::to_vec(&MaskedSegment {
            name: format!("{stem}-masked.ts"),
            size: masked.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&masked)),
            original_sha256: original_sha256.to_string(),
        })
        .map_err(|e| e.to_string())?;
    }
    let mut f = std::fs::File::open(&path).map_err(shown)?;
    f.seek(std::io::SeekFrom::Start(q.offset)).map_err(shown)?;
    let mut buf = Vec::new();
    f.take(q.len.min(MAX_CHUNK))
        .read_to_end(&mut buf)
        .map_err(shown)?;
    Ok((json, buf))
}

/// Removes the oldest masked files beyond [`MASKED_KEPT`] (never `keep`).
fn forget_old_masked(dir: &std::path::Path, keep: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(_, p)| p != keep)
        .collect();
    files.sort();
    let over = (files.len() + 1).saturating_sub(MASKED_KEPT);
    for (_, p) in files.into_iter().take(over) {
        let _ = std::fs::remove_file(p);
    }
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
