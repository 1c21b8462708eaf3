//! `view`: watching a camera through the controller (every session audited at
//! its start and its end), and the list of who watches and who watched.

use crate::call::{call, Client};
use anyhow::{Context, Result};
use camplane_proto::v1 as pb;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum ViewCmd {
    /// Play a recorded range of CAMERA into FILE as fragmented MP4 (remuxed on
    /// the site, never re-encoded): the installing department's viewers, the
    /// police and people the chief authorized, with the current policy
    /// acknowledged.
    Playback {
        /// The camera.
        camera: String,
        /// From (RFC 3339); the picture starts at the keyframe at or before it.
        #[arg(long)]
        from: String,
        /// To (RFC 3339); at most 24 hours after --from.
        #[arg(long)]
        to: String,
        /// The MP4 file to write: created new, owner-only (an existing file or
        /// link there is refused).
        #[arg(long)]
        out: PathBuf,
        /// Why (kept with the session and in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
        /// The original picture, without the camera's privacy masks: only
        /// with a current lift from the chief (`camplane masks lift`).
        #[arg(long)]
        unmasked: bool,
    },
    /// Watch CAMERA live into FILE as fragmented MP4 (never re-encoded),
    /// starting at a keyframe: the same people as playback. Ends after
    /// --seconds of video; a stream that ends early (the camera or its site
    /// gone) exits non-zero with the reason.
    Live {
        /// The camera.
        camera: String,
        /// How many seconds of video to write.
        #[arg(long)]
        seconds: u32,
        /// The MP4 file to write: created new, owner-only (an existing file or
        /// link there is refused).
        #[arg(long)]
        out: PathBuf,
        /// Why (kept with the session and in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
        /// Without the camera's privacy masks (needs the chief's lift).
        #[arg(long)]
        unmasked: bool,
    },
    /// Who watches which camera now, and who watched before (admins,
    /// auditors, the chief).
    Sessions {
        /// Only the sessions running now.
        #[arg(long)]
        active: bool,
    },
}

/// Runs a `view` command.
pub async fn run(c: &Client, vc: ViewCmd) -> Result<i32> {
    match vc {
        ViewCmd::Playback {
            camera,
            from,
            to,
            out,
            reason,
            unmasked,
        } => playback(c, camera, from, to, out, reason, unmasked).await,
        ViewCmd::Live {
            camera,
            seconds,
            out,
            reason,
            unmasked,
        } => {
            if seconds == 0 {
                anyhow::bail!("--seconds: at least 1");
            }
            crate::files::refuse_existing(&out)?;
            let stream = call(
                pb::viewing_client::ViewingClient::new(c.channel.clone())
                    .max_decoding_message_size(camplane_proto::limits::MEDIA_MAX_MESSAGE)
                    .live(c.req(pb::LiveRequest {
                        camera,
                        reason,
                        unmasked,
                        seconds,
                    })?),
            )
            .await?;
            write_stream(stream, "live view", out).await
        }
        ViewCmd::Sessions { active } => sessions(c, active).await,
    }
}

async fn playback(
    c: &Client,
    camera: String,
    from: String,
    to: String,
    out: PathBuf,
    reason: String,
    unmasked: bool,
) -> Result<i32> {
    crate::files::refuse_existing(&out)?;
    let stream = call(
        pb::viewing_client::ViewingClient::new(c.channel.clone()).playback(c.req(
            pb::PlaybackRequest {
                camera,
                from,
                to,
                reason,
                unmasked,
            },
        )?),
    )
    .await?;
    write_stream(stream, "playback", out).await
}

/// Writes a viewing stream's chunks to `out` (created new, owner-only); a
/// stream that fails exits 1 with its reason.
async fn write_stream(
    mut stream: tonic::Streaming<pb::PlaybackChunk>,
    what: &str,
    out: PathBuf,
) -> Result<i32> {
    let mut f = crate::files::create_new_private(&out)?;
    let mut session = String::new();
    let mut bytes = 0u64;
    loop {
        match stream.message().await {
            Ok(Some(m)) => {
                if !m.session.is_empty() {
                    session = m.session;
                }
                f.write_all(&m.data)
                    .with_context(|| format!("writing {}", out.display()))?;
                bytes += m.data.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!(
                    "{what} failed: {}; {} is incomplete",
                    e.message(),
                    out.display()
                );
                return Ok(1);
            }
        }
    }
    f.sync_all()
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{}: {bytes} bytes (session {session})", out.display());
    Ok(0)
}

async fn sessions(c: &Client, active: bool) -> Result<i32> {
    let l = call(
        pb::viewing_client::ViewingClient::new(c.channel.clone())
            .sessions(c.req(pb::ViewSessionsRequest { active })?),
    )
    .await?;
    println!(
        "{:<28} {:<16} {:<16} {:<6} {:<6} {:<25} {:<25} {:>10}  REASON",
        "SESSION", "USER", "CAMERA", "MODE", "MASKED", "STARTED", "ENDED", "BYTES"
    );
    for o in l.objects {
        let v: serde_json::Value = serde_json::from_slice(&o.json)?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let ended = match v["ended_at"].as_str() {
            Some(e) => e.to_string(),
            None => "(watching)".to_string(),
        };
        println!(
            "{:<28} {:<16} {:<16} {:<6} {:<6} {:<25} {:<25} {:>10}  {}",
            s("id"),
            s("user"),
            s("camera"),
            s("mode"),
            if v["masked"] == true { "yes" } else { "no" },
            s("started_at"),
            ended,
            v["bytes"].as_u64().unwrap_or(0),
            s("reason").escape_default()
        );
    }
    Ok(0)
}
