//! The gateway's position for mobile readers, from gpsd's JSON protocol
//! (TCP, `?WATCH={"enable":true,"json":true}`, then one JSON object per line;
//! `TPV` objects carry the fix). Fixes are kept for a few minutes so a read is
//! located where the vehicle was when the plate was seen, not when the pass ended.

// The line parser lives in camplane-config, where the fuzz targets reach it.
pub use camplane_config::gpsd::{parse_tpv, Fix};
use camplane_config::model::LatLon;
use jiff::Timestamp;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Fixes kept (about five minutes at gpsd's usual 1 Hz).
const KEEP: usize = 300;
/// A fix further than this from the read's time does not locate it.
pub const MAX_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);
/// Longest line taken from gpsd, newline excluded. gpsd writes each object
/// into a buffer of `GPS_JSON_RESPONSE_MAX` bytes (gps_json.h: 10240 since
/// u-blox 9's long RAW reports, 4096 and 1024 before); six times that leaves a
/// wide margin. The bound is what matters: the read never buffers more than
/// this + 1 bytes, whatever the peer sends.
pub const MAX_LINE: usize = 64 * 1024;
/// Silence that ends a session: gpsd reports at about 1 Hz, so a minute
/// without a whole line means the session is dead.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Recent fixes; cheap to clone.
#[derive(Clone, Default)]
pub struct Gps {
    fixes: Arc<Mutex<VecDeque<Fix>>>,
    /// Last connection problem, for health.
    pub last_error: Arc<Mutex<Option<String>>>,
}

impl Gps {
    /// Records a fix.
    pub fn push(&self, f: Fix) {
        let mut g = self.fixes.lock().unwrap_or_else(|e| e.into_inner());
        g.push_back(f);
        while g.len() > KEEP {
            g.pop_front();
        }
    }

    /// The fix nearest `t`, if one lies within [`MAX_SKEW`].
    pub fn position_at(&self, t: Timestamp) -> Option<LatLon> {
        let g = self.fixes.lock().unwrap_or_else(|e| e.into_inner());
        g.iter()
            .min_by_key(|f| f.time.duration_since(t).abs())
            .filter(|f| f.time.duration_since(t).abs() <= MAX_SKEW)
            .map(|f| f.pos)
    }

    /// The latest fix.
    pub fn latest(&self) -> Option<Fix> {
        self.fixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .back()
            .copied()
    }
}

/// Follows gpsd at `addr` (`host:port`) until cancelled, reconnecting.
pub async fn follow(addr: String, gps: Gps, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    let mut line = Vec::new();
    loop {
        let r = tokio::select! {
            _ = cancel.cancelled() => return,
            r = session(&addr, &gps, &mut line) => r,
        };
        if let Err(e) = r {
            tracing::warn!(gpsd = %addr, error = %e, "gpsd session ended");
            *gps.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("gpsd {addr}: {e}"));
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// One connection to gpsd, until it fails. `line` is the line buffer (kept
/// across sessions; it never grows past [`MAX_LINE`] + 1 bytes).
async fn session(addr: &str, gps: &Gps, line: &mut Vec<u8>) -> std::io::Result<()> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    s.write_all(b"?WATCH={\"enable\":true,\"json\":true};\n")
        .await?;
    let mut r = BufReader::new(s);
    loop {
        line.clear();
        // At most one byte past the limit is read: a line without its newline
        // by then is too long, and the session ends rather than buffer more.
        let n = tokio::time::timeout(
            LINE_TIMEOUT,
            (&mut r).take(MAX_LINE as u64 + 1).read_until(b'\n', line),
        )
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no whole line for {} s", LINE_TIMEOUT.as_secs()),
            )
        })??;
        if line.last() != Some(&b'\n') {
            if n > MAX_LINE {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a line longer than {MAX_LINE} bytes: not gpsd"),
                ));
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "gpsd closed the connection",
            ));
        }
        // A line that is not UTF-8 is not a TPV object: skipped like any other.
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some(f) = parse_tpv(text.trim_end_matches(['\n', '\r']), Timestamp::now()) {
            gps.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_line_ends_the_session_without_buffering_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let peer = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // One good fix, then 8 MiB with no newline, and the connection kept open.
            let fix = br#"{"class":"TPV","mode":3,"time":"2026-06-01T12:00:01.000Z","lat":42.5,"lon":-90.66}"#;
            s.write_all(fix).await.unwrap();
            s.write_all(b"\r\n").await.unwrap();
            let junk = vec![b'x'; 8 << 20];
            let _ = s.write_all(&junk).await; // the reader stops taking it
            tokio::time::sleep(Duration::from_secs(120)).await;
        });
        let gps = Gps::default();
        let mut line = Vec::new();
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(10), session(&addr, &gps, &mut line))
            .await
            .expect("the session ends at the limit, not at the 60 s timeout");
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("longer than 65536 bytes"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(line.len() <= MAX_LINE + 1, "{} bytes buffered", line.len());
        assert!(
            line.capacity() <= 2 * (MAX_LINE + 1),
            "{} bytes held",
            line.capacity()
        );
        assert_eq!(
            gps.latest().map(|f| f.pos.lat),
            Some(42.5),
            "lines before it count"
        );
        peer.abort();
    }

    #[test]
    fn nearest_fix() {
        // The line parser's own cases are camplane_config::gpsd's tests.
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let f = parse_tpv(
            r#"{"class":"TPV","mode":3,"time":"2026-06-01T12:00:01.000Z","lat":42.5,"lon":-90.66}"#,
            now,
        )
        .unwrap();
        let gps = Gps::default();
        gps.push(f);
        gps.push(Fix {
            time: "2026-06-01T12:00:03Z".parse().unwrap(),
            pos: LatLon {
                lat: 42.6,
                lon: -90.7,
            },
        });
        assert_eq!(gps.position_at(now).unwrap().lat, 42.5);
        assert_eq!(
            gps.position_at("2026-06-01T12:00:04Z".parse().unwrap())
                .unwrap()
                .lat,
            42.6
        );
        assert!(gps
            .position_at("2026-06-01T12:01:00Z".parse().unwrap())
            .is_none());
    }
}
