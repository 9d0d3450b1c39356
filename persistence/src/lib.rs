//! shoal-persistence: the byte formats Shoal shares with Redis 7.0.
//!
//! It knows bytes and neutral value views only — never what a command means.
//! Today it holds the CRC-64 that RDB files and DUMP payloads end with; the
//! AOF (manifest, writer, reader, rewrite) and the RDB encoder/decoder grow
//! here with the persistence issue.

pub mod aof;
pub mod crc64;
pub mod dump;
pub mod lzf;
pub mod rdb;
