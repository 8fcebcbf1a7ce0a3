//! The io_uring ring every socket and file request goes through (DESIGN §3, §11).
pub mod ring;
