//! Small helpers shared by every layer: time formats, hex, piece queues,
//! private file modes, rate-limited warnings.

pub mod crc_combine;
pub mod hex;
pub mod pieces;
pub mod private_fs;
pub mod rate_limited;
pub mod time;
pub mod yield_now;
