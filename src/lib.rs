//! forkv: a Redis 7.0-compatible in-memory data server for Linux (see DESIGN.md).

pub mod alloc;
pub mod cmd;
pub mod config;
pub mod db;
pub mod io;
pub mod net;
pub mod persist;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod types;
