//! The agent's one error type.

use std::path::PathBuf;

/// Everything the agent's media side can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A configuration value is invalid; `path` names the field (`[2].retention_days`).
    #[error("config {path}: {message}")]
    Config {
        /// Path of the offending field.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// FFmpeg refused an input or output operation.
    #[error("ffmpeg {op}: {source}")]
    Ffmpeg {
        /// What was being done.
        op: &'static str,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The camera delivered something we will not record (no video, 0x0, unknown codec).
    #[error("unusable stream: {0}")]
    UnusableStream(String),
    /// The camera stopped sending video for longer than the watchdog allows.
    #[error("no video for {0:?}")]
    Silence(std::time::Duration),
    /// The stream ended (server closed it).
    #[error("stream ended")]
    EndOfStream,
    /// The on-disk segment index is unreadable or inconsistent.
    #[error("index: {0}")]
    Index(String),
    /// The saved desired config (`config.json`) does not parse.
    #[error("saved config {path}: {message}")]
    SavedConfig {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        message: String,
    },
    /// Enrolment or the session with the controller failed.
    #[error("controller: {0}")]
    Control(String),
}

impl AgentError {
    /// Wraps an I/O error with the operation and path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Wraps an FFmpeg error with the operation.
    pub fn ffmpeg(op: &'static str, source: ffmpeg_next::Error) -> Self {
        AgentError::Ffmpeg { op, source }
    }
}

/// Result alias for the agent.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;
