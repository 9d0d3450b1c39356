//! The append-only file, as Redis 7.0's multi-part AOF: the manifest
//! (`manifest`), the directory operations the server drives on start and
//! around a rewrite (`dir`), the command reader used when loading
//! (`reader`), and the writer thread that appends and fsyncs (`writer`).
//! Bytes only: the server encodes and interprets commands.

pub mod dir;
pub mod manifest;
pub mod reader;
pub mod writer;

pub use dir::{AofDir, AofPaths, AofSizes, FileToLoad, OpenedIncr, RewriteTicket};
pub use manifest::{AofFileKind, BaseFormat, Manifest, ManifestEntry, ManifestError};
pub use reader::{sniff_format, CommandReader, FileFormat, ReadCommand, ReadError, ReaderLimits};
pub use writer::{
    AofSink, AofWriter, AofWriterOptions, AofWriterStats, DurableHook, FsyncPolicy, WriterError,
};

use std::{fmt, io};

/// Errors of the directory operations.
#[derive(Debug)]
pub enum AofError {
    /// A file-system call failed; `context` says which, in Redis's words
    /// where Redis has them.
    Io { context: String, source: io::Error },
    /// The manifest on disk is malformed (Redis exits on this).
    Manifest(ManifestError),
    /// A file the manifest lists is absent.
    MissingFile { file_name: String },
    /// The request does not fit the current manifest (e.g. a stale
    /// rewrite ticket).
    Invalid(&'static str),
}

impl AofError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> AofError {
        AofError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for AofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AofError::Io { context, source } => write!(f, "{context}: {}", errno_text(source)),
            AofError::Manifest(e) => e.fmt(f),
            AofError::MissingFile { file_name } => {
                write!(
                    f,
                    "The AOF file {file_name} listed in the manifest doesn't exist"
                )
            }
            AofError::Invalid(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for AofError {}

/// An I/O error as C's `strerror` prints it: "No space left on device",
/// without Rust's " (os error 28)" suffix.
pub fn errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(cut)) => text[..cut].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_reads_like_strerror() {
        assert_eq!(
            errno_text(&io::Error::from_raw_os_error(28)),
            "No space left on device"
        );
        assert_eq!(errno_text(&io::Error::other("custom")), "custom");
    }
}
