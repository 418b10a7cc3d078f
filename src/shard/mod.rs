//! Executors and what crosses between them: placement of objects on shards,
//! the mesh of bounded queues, and the messages that travel on it.

pub mod mesh;
pub mod msg;
pub mod placement;
pub mod runtime;
pub mod spin;

pub use placement::Placement;
