//! The per-shard storage engine: an append-only O_DIRECT log, an in-memory
//! index rebuilt by scanning it, group commit.

pub mod types;
pub use types::*;
