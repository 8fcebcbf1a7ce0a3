//! Persistence (DESIGN §6–8, §11): `propagate` is the single exit of every data change; `rdb`
//! the file format; `snapshot` writes and loads whole files; `child` the snapshot child; `fs`
//! the file-system interface the save path goes through.
pub mod child;
pub mod fs;
pub mod propagate;
pub mod rdb;
pub mod snapshot;
