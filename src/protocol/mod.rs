//! The wire protocol: request parsing (RESP multibulk and inline) and reply
//! encoding for RESP2 and RESP3.

pub mod parse;
pub mod reply;

pub use parse::{Limits, Parsed, ProtocolError, RequestParser};
pub use reply::Out;
