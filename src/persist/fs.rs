//! The file-system interface every save goes through (DESIGN §11): create, write, sync,
//! rename, sync a directory, remove. `RealFs` is plain system calls (safe in the snapshot
//! child: no locks, no libc allocation); tests swap in `sim::SimDisk`, which forgets at a crash
//! everything that was not made durable.

use std::io::{self, Write};
use std::path::Path;

pub trait FsFile: Send {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()>;
    /// Make the file's data durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
}

pub trait Fs: Send + Sync {
    /// Create or truncate a file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Make the directory's entries (creations, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
}

pub struct RealFs;

struct RealFile(std::fs::File);

impl FsFile for RealFile {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.0.write_all(b)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl Fs for RealFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let d = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(d)?.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// A writer that syncs its file every `every` bytes (rdb-save-incremental-fsync), so the final
/// fsync of a big file is short and dirty pages never pile up.
pub struct SyncingWriter {
    pub file: Box<dyn FsFile>,
    since_sync: usize,
    every: usize,
}

/// Bytes between incremental fsyncs (Redis's REDIS_AUTOSYNC_BYTES).
pub const AUTOSYNC_BYTES: usize = 4 * 1024 * 1024;

impl SyncingWriter {
    pub fn new(file: Box<dyn FsFile>, incremental: bool) -> SyncingWriter {
        SyncingWriter {
            file,
            since_sync: 0,
            every: if incremental {
                AUTOSYNC_BYTES
            } else {
                usize::MAX
            },
        }
    }
}

impl Write for SyncingWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.file.write_all(b)?;
        self.since_sync += b.len();
        if self.since_sync >= self.every {
            self.file.sync()?;
            self.since_sync = 0;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Replace `dir/name` atomically (DESIGN §6): `write` fills `dir/temp` (synced every 4 MiB
/// when `incremental`), then the file is fsynced, renamed over `name` and the directory
/// fsynced. On any error the temp file is removed and the previous file is untouched.
pub fn replace_atomically<T>(
    fs: &dyn Fs,
    dir: &Path,
    name: &str,
    temp: &str,
    incremental: bool,
    write: impl FnOnce(&mut SyncingWriter) -> io::Result<T>,
) -> io::Result<T> {
    let temp = dir.join(temp);
    let res = (|| {
        let mut sink = SyncingWriter::new(fs.create(&temp)?, incremental);
        let out = write(&mut sink)?;
        sink.file.sync()?;
        drop(sink);
        fs.rename(&temp, &dir.join(name))?;
        fs.sync_dir(dir)?;
        Ok(out)
    })();
    if res.is_err() {
        let _ = fs.remove(&temp);
    }
    res
}

/// A simulated disk for crash tests: what survives a crash is exactly what was synced
/// (file data) and what was made durable in its directory (names).
#[cfg(test)]
pub mod sim {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Inode {
        data: Vec<u8>,
        synced: Vec<u8>,
    }

    #[derive(Default)]
    struct State {
        inodes: Vec<Inode>,
        names: HashMap<PathBuf, usize>,
        durable_names: HashMap<PathBuf, usize>,
        /// Operations that may make something durable (sync, rename, sync_dir) so far.
        flush_points: usize,
        /// The flush point at which the machine dies; it and everything after fail.
        crash_at: Option<usize>,
        crashed: bool,
    }

    #[derive(Clone, Default)]
    pub struct SimDisk(Arc<Mutex<State>>);

    fn crash_err() -> io::Error {
        io::Error::other("simulated crash")
    }

    impl SimDisk {
        /// Crash at the `n`-th flush point (0-based).
        pub fn crash_at(&self, n: usize) {
            self.0.lock().unwrap().crash_at = Some(n);
        }

        pub fn flush_points(&self) -> usize {
            self.0.lock().unwrap().flush_points
        }

        /// Put a file on the disk, fully durable.
        pub fn put_durable(&self, path: &Path, data: &[u8]) {
            let mut st = self.0.lock().unwrap();
            st.inodes.push(Inode {
                data: data.to_vec(),
                synced: data.to_vec(),
            });
            let ino = st.inodes.len() - 1;
            st.names.insert(path.to_path_buf(), ino);
            st.durable_names.insert(path.to_path_buf(), ino);
        }

        /// What the disk holds after the crash: durable names with their synced data.
        pub fn after_crash(&self) -> HashMap<PathBuf, Vec<u8>> {
            let st = self.0.lock().unwrap();
            st.durable_names
                .iter()
                .map(|(p, &i)| (p.clone(), st.inodes[i].synced.clone()))
                .collect()
        }

        /// Count a flush point; Err once the crash point is reached.
        fn flush_point(st: &mut State) -> io::Result<()> {
            if st.crashed {
                return Err(crash_err());
            }
            let n = st.flush_points;
            st.flush_points += 1;
            if st.crash_at == Some(n) {
                st.crashed = true;
                return Err(crash_err());
            }
            Ok(())
        }
    }

    struct SimFile {
        disk: SimDisk,
        ino: usize,
    }

    impl FsFile for SimFile {
        fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
            let mut st = self.disk.0.lock().unwrap();
            if st.crashed {
                return Err(crash_err());
            }
            st.inodes[self.ino].data.extend_from_slice(b);
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            let mut st = self.disk.0.lock().unwrap();
            SimDisk::flush_point(&mut st)?;
            let ino = &mut st.inodes[self.ino];
            ino.synced = ino.data.clone();
            Ok(())
        }
    }

    impl Fs for SimDisk {
        fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
            let mut st = self.0.lock().unwrap();
            if st.crashed {
                return Err(crash_err());
            }
            st.inodes.push(Inode::default());
            let ino = st.inodes.len() - 1;
            st.names.insert(path.to_path_buf(), ino);
            Ok(Box::new(SimFile {
                disk: self.clone(),
                ino,
            }))
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut st = self.0.lock().unwrap();
            SimDisk::flush_point(&mut st)?;
            let ino = st
                .names
                .remove(from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            st.names.insert(to.to_path_buf(), ino);
            Ok(())
        }
        fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
            let mut st = self.0.lock().unwrap();
            SimDisk::flush_point(&mut st)?;
            st.durable_names = st.names.clone();
            Ok(())
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut st = self.0.lock().unwrap();
            if st.crashed {
                return Err(crash_err());
            }
            st.names.remove(path);
            Ok(())
        }
    }
}
