//! Small helpers shared by every layer: time formats, hex.

pub mod hex;
pub mod time;
