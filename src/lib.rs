//! ringstore: an S3-compatible object store, one io_uring executor per core.
//!
//! Layers, each in its own module (see docs/ARCHITECTURE.md):
//! `http` (wire protocol), `auth` (SigV4), `s3` (routing, XML, errors),
//! `store` (per-shard log and index), `shard` (executors and the mesh),
//! `catalog` (buckets, credentials), `types` (values shared by
//! several layers), `server` (connection handling that ties
//! them together), `admin` (management API), `bench` (load generator).

pub mod access;
pub mod admin;
pub mod auth;
pub mod bench;
pub mod catalog;
pub mod faults;
pub mod http;
pub mod ratelimit;
pub mod s3;
pub mod server;
pub mod shard;
pub mod sse;
pub mod store;
pub mod types;
pub mod util;

/// This build's version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit it was built from (build.rs; "unknown" outside a checkout).
pub const COMMIT: &str = env!("RINGSTORE_COMMIT");
