//! Buckets, credentials and their settings: the small global state. Shard 0
//! owns and persists it (`catalog.json`, mode 0600: it holds secrets); every
//! shard reads an immutable snapshot that shard 0 replaces on each change.

pub mod model;
pub mod ops;
pub mod persist;

pub use model::*;
pub use ops::*;
