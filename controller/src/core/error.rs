//! The controller crate's one error type, and its mapping to gRPC status codes.

/// Everything that can go wrong in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store cannot be reached (etcd down, no quorum); retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A watch asked for a revision the store no longer keeps history for.
    #[error("revision {0} is compacted; list again and watch from the list's revision")]
    Compacted(i64),
    /// The store's data failed an integrity check; it is not served.
    #[error("store is corrupted: {0}")]
    Corrupt(String),
    /// No such object.
    #[error("not found: {0}")]
    NotFound(String),
    /// The object exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Signed in, but the role does not allow it.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Not signed in, or the token expired or is forged.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The object is not in the state the request needs.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The request itself is not valid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Concurrent writers kept winning; retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A site agent did not answer, or answered with an error.
    #[error("site agent: {0}")]
    Agent(String),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
    /// Work stopped because its client went away or the server is stopping.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A config or manifest problem.
    #[error(transparent)]
    Config(#[from] camplane_config::Error),
    /// A local I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code;
        let code = match &e {
            Error::Unavailable(_) | Error::Agent(_) => Code::Unavailable,
            Error::Compacted(_) => Code::OutOfRange,
            Error::Corrupt(_) | Error::Internal(_) | Error::Io { .. } => Code::Internal,
            Error::Cancelled(_) => Code::Cancelled,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::InvalidArgument(_) | Error::Config(_) => Code::InvalidArgument,
            Error::Conflict(_) => Code::Aborted,
        };
        tonic::Status::new(code, e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("stored JSON: {e}"))
    }
}
