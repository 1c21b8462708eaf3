//! A recording agent killed with SIGKILL in the middle of a segment loses at most
//! the tail it had not yet flushed: finished segments stay intact and chained, the
//! partial one stays playable and is indexed at the next start. The agent runs as
//! the helper binary `crash-child` (tests/src/bin/crash_child.rs) so it can be killed.

use camplane_agent::index::Index;
use camplane_agent::record::{hash_file, recover};
use camplane_testkit::{media::*, servers::*};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;

#[test]
fn kill_mid_segment_loses_at_most_the_unflushed_tail() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let srv = RtspServer::start(free_port(), &["/live=live:320x240"]);
    let root = dir.path().join("rec");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
        .arg(&root)
        .arg(srv.url("/live"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = 0u64;
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("RECORDED ") else {
            continue;
        };
        let mut it = rest.split(' ').map(|x| x.parse::<u64>().unwrap());
        let (n, segments) = (it.next().unwrap(), it.next().unwrap());
        last = n;
        // Two finished segments and ~1 s into the third: mid-segment.
        if segments >= 2 && n >= 2 * 50 + 25 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no trailer, no rename
    child.wait().unwrap();
    let cam_dir = root.join("segments/c1");
    let mut finished = 0;
    let mut in_files = 0;
    let mut partial = None;
    let idx = Mutex::new(Index::open(&root).unwrap());
    for e in idx.lock().unwrap().segments("c1") {
        let p = cam_dir.join(e.file_name());
        assert_eq!(
            hash_file(&p).unwrap(),
            (e.size, e.sha256),
            "finished segment intact"
        );
        assert!(decodes_cleanly(&p), "finished segment playable");
        in_files += probe(&p).unwrap().packets;
        finished += 1;
    }
    assert!(finished >= 2);
    for de in std::fs::read_dir(&cam_dir).unwrap().flatten() {
        if de.file_name().to_string_lossy().ends_with(".part") {
            partial = Some(de.path());
        }
    }
    let partial = partial.expect("the segment being written is left as .part");
    let p = probe(&partial).expect("partial segment playable up to the kill");
    assert!(p.packets >= 10, "{p:?}");
    in_files += p.packets;
    // Everything the child had reported as written is in the files: the loss is
    // at most what was written after its last report (the unflushed tail).
    assert!(
        in_files >= last,
        "files hold {in_files} packets, {last} were reported written"
    );
    // Recovery at next start indexes the partial and keeps the chain.
    let rec = recover("c1", &idx).unwrap();
    assert_eq!(rec.len(), 1);
    let g = idx.lock().unwrap();
    g.verify_chain("c1").unwrap();
    assert_eq!(g.segments("c1").len(), finished + 1);
}
