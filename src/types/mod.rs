//! Value representations of the collection types, each with a compact form
//! for small values and a large form that keeps operations cheap as they
//! grow — the roles Redis's listpack/intset and hashtable/skiplist play.

pub mod geohash;
pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use stream::StreamValue;
pub use zset::ZSetValue;

/// An element as stored in collections (bytes; short ones in place).
pub type Elem = crate::keyspace::Key;
