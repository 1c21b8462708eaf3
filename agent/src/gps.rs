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
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Fixes kept (about five minutes at gpsd's usual 1 Hz).
const KEEP: usize = 300;
/// A fix further than this from the read's time does not locate it.
pub const MAX_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

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
    loop {
        let r = tokio::select! {
            _ = cancel.cancelled() => return,
            r = session(&addr, &gps) => r,
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

async fn session(addr: &str, gps: &Gps) -> std::io::Result<()> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    s.write_all(b"?WATCH={\"enable\":true,\"json\":true};\n")
        .await?;
    let mut lines = BufReader::new(s).lines();
    // gpsd reports at about 1 Hz; silence for a minute means the session is dead.
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no data for 60 s"))??
    {
        if line.len() > 64 * 1024 {
            continue;
        }
        if let Some(f) = parse_tpv(&line, Timestamp::now()) {
            gps.push(f);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "gpsd closed the connection",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
