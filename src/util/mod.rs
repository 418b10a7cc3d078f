//! Small helpers shared by every layer: time formats, hex, piece queues.

pub mod crc_combine;
pub mod hex;
pub mod pieces;
pub mod time;
pub mod yield_now;
