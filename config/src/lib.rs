//! Typed configuration for camplane: the controller's config file, the object
//! manifests users apply (sites, departments, cameras, ...), and the domain model
//! those manifests and the controller share.
//!
//! Every loader reports *all* problems it can find at once (unknown fields and
//! semantic checks), each with the file, the line where it can be located, and the
//! field path. A YAML syntax or type error stops at the first one, with line and
//! column, because nothing after it can be read reliably.

pub mod agent;
pub mod controller;
pub mod gpsd;
pub mod hotlist;
pub mod locate;
pub mod manifest;
pub mod model;
pub mod text;

use std::fmt;

/// One problem found in a file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or other source name) the problem is in.
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// Field path such as `spec.location.lat` or `cameras[2].purpose`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

/// The error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than its kind of file may be; it was not read.
    #[error("{file}: {size} is over the {limit} limit of {what}; nothing was read")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size (or "more than the limit", for a file that keeps growing).
        size: String,
        /// The limit, readable.
        limit: String,
        /// What kind of file.
        what: &'static str,
    },
    /// The file was read but is not valid; every problem found is listed.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Error {
    /// The problems of an `Invalid` error (empty for I/O errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid(p) => p,
            Error::Io { .. } | Error::TooLarge { .. } => &[],
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a serde_yaml error into a problem, keeping its line, column and path.
pub(crate) fn yaml_problem(file: &str, line_offset: usize, e: &serde_yaml::Error) -> Problem {
    let (line, column) = match e.location() {
        Some(l) => (Some(l.line() + line_offset), Some(l.column())),
        None => (None, None),
    };
    // serde_yaml prefixes the path ("spec.lat: invalid type ...") and suffixes the
    // location; keep the message and split the path out.
    let mut msg = e.to_string();
    if let Some(idx) = msg.find(" at line ") {
        msg.truncate(idx);
    }
    let (path, message) = split_path(&msg);
    Problem {
        file: file.to_string(),
        line,
        column,
        path,
        message,
    }
}

fn split_path(msg: &str) -> (String, String) {
    if let Some((head, rest)) = msg.split_once(": ") {
        let looks_like_path = !head.is_empty()
            && !head.contains(' ')
            && head
                .chars()
                .all(|c| c.is_alphanumeric() || "._[]-".contains(c));
        if looks_like_path {
            return (head.to_string(), rest.to_string());
        }
    }
    (String::new(), msg.to_string())
}

/// Deserializes `text` as `T`, collecting every unknown field as a problem
/// (the structs of this crate accept no field they do not know).
pub(crate) fn from_yaml_strict<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    line_offset: usize,
    path_prefix: &str,
) -> Result<T, Vec<Problem>> {
    let de = serde_yaml::Deserializer::from_str(text);
    let mut unknown = Vec::new();
    let value: T =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string())).map_err(|e| {
            let mut p = yaml_problem(file, line_offset, &e);
            if !path_prefix.is_empty() {
                p.path = join_path(path_prefix, &p.path);
            }
            vec![p]
        })?;
    if unknown.is_empty() {
        return Ok(value);
    }
    Err(unknown
        .into_iter()
        .map(|path| {
            let line = locate::line_of_path(text, &path).map(|l| l + line_offset + 1);
            Problem {
                file: file.to_string(),
                line,
                column: None,
                path: join_path(path_prefix, &path),
                message: "unknown field".to_string(),
            }
        })
        .collect())
}

pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == "?") {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// The largest configuration file (controller or agent) read: a city's config
/// is a few KiB; a bigger file is a mistake, refused before it is parsed.
pub const CONFIG_MAX_BYTES: u64 = 1 << 20;

/// A size in bytes, readable (`4 MiB`, `50.0 MB` style).
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Reads a file of at most `max` bytes to a string, naming it in the error; a
/// larger file is refused before it is read (and a file that grows while read,
/// or a device that never ends, is cut at the limit and refused).
pub fn read_file_limited(path: &std::path::Path, max: u64, what: &'static str) -> Result<String> {
    use std::io::Read;
    let io = |source| Error::Io {
        file: path.display().to_string(),
        source,
    };
    let too_large = |size: String| Error::TooLarge {
        file: path.display().to_string(),
        size,
        limit: human_bytes(max),
        what,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > max {
        return Err(too_large(human_bytes(len)));
    }
    let mut text = String::new();
    f.take(max + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > max {
        return Err(too_large("more than that".into()));
    }
    Ok(text)
}

/// Reads a configuration file (at most [`CONFIG_MAX_BYTES`]), naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<String> {
    read_file_limited(path, CONFIG_MAX_BYTES, "a configuration file")
}
