//! MIGRATE: move (or copy) keys to another Redis-compatible server. Like Redis, the transfer
//! is synchronous: the keys are serialized as DUMP payloads, sent as RESTORE commands over a
//! connection kept for later MIGRATEs to the same address (closed after 10 s idle), and the
//! server waits, up to the timeout, for the target's replies. Keys the target accepted are
//! deleted here unless COPY, and propagated as one DEL.

use super::{NOT_INT, SYNTAX, eq_ic};
use crate::net::client::Client;
use crate::persist::rdb::encode::dump_payload;
use crate::resp::parse_i64;
use crate::server::{Server, notify};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Most cached connections; a new one past this replaces one of them.
const CACHE_ITEMS: usize = 64;
/// Seconds a cached connection may stay unused.
const CACHE_TTL_SECS: i64 = 10;

/// A connection to a MIGRATE target, kept between commands.
pub struct MigrateSocket {
    stream: TcpStream,
    /// The database selected on it (-1: unknown, SELECT is sent).
    last_dbid: i64,
    last_use_ms: i64,
}

#[derive(Default)]
pub struct MigrateSockets {
    by_addr: std::collections::HashMap<String, MigrateSocket>,
}

impl MigrateSockets {
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// Close connections unused for longer than the cache TTL (cron).
    pub fn close_idle(&mut self, now_ms: i64) {
        self.by_addr
            .retain(|_, s| now_ms - s.last_use_ms <= CACHE_TTL_SECS * 1000);
    }
}

/// Why a transfer failed on the socket.
enum SocketError {
    Connect,
    Write { timed_out: bool },
    Read { timed_out: bool },
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn connect(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    for a in addrs {
        if let Ok(s) = TcpStream::connect_timeout(&a, timeout) {
            let _ = s.set_nodelay(true);
            return Some(s);
        }
    }
    None
}

/// One reply line (up to 1 KiB, as Redis reads them), without its CRLF.
fn read_line(s: &mut TcpStream) -> Result<Vec<u8>, SocketError> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return Err(SocketError::Read { timed_out: false }),
            Ok(_) => {
                if b[0] == b'\n' {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Ok(line);
                }
                if line.len() < 1024 {
                    line.push(b[0]);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(SocketError::Read {
                    timed_out: timed_out(&e),
                });
            }
        }
    }
}

struct Options<'a> {
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [&'a [u8]],
}

fn parse_options<'a>(c: &mut Client, args: &'a [&'a [u8]]) -> Option<Options<'a>> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: &args[3..4],
    };
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = args[j];
        if eq_ic(a, "copy") {
            o.copy = true;
        } else if eq_ic(a, "replace") {
            o.replace = true;
        } else if eq_ic(a, "auth") {
            if more < 1 {
                c.out.error(SYNTAX);
                return None;
            }
            o.auth = Some((None, args[j + 1]));
            j += 1;
        } else if eq_ic(a, "auth2") {
            if more < 2 {
                c.out.error(SYNTAX);
                return None;
            }
            o.auth = Some((Some(args[j + 1]), args[j + 2]));
            j += 2;
        } else if eq_ic(a, "keys") {
            if !args[3].is_empty() {
                c.out.error(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                );
                return None;
            }
            o.keys = &args[j + 1..];
            break;
        } else {
            c.out.error(SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw]
/// [AUTH2 user pw] [KEYS key ...]
pub fn migrate(srv: &mut Server, c: &mut Client, args: &[&[u8]]) {
    let Some(o) = parse_options(c, args) else {
        return;
    };
    let (Some(timeout), Some(dbid)) = (parse_i64(args[5]), parse_i64(args[4])) else {
        c.out.error(NOT_INT);
        return;
    };
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // Keys that exist now (all missing: nothing to do, which is not an error).
    let keys: Vec<&[u8]> = o
        .keys
        .iter()
        .copied()
        .filter(|k| srv.lookup_read(c.db, k).is_some())
        .collect();
    if keys.is_empty() {
        c.out.simple("NOKEY");
        return;
    }
    let host = String::from_utf8_lossy(args[1]).into_owned();
    let port_text = String::from_utf8_lossy(args[2]).into_owned();
    let addr = format!("{host}:{port_text}");
    // Like atoi: a bad port is 0 and the connection fails.
    let port: u16 = port_text.parse().unwrap_or(0);
    let mut may_retry = true;
    loop {
        match transfer(srv, c, &o, &keys, &addr, (&host, port), dbid, timeout) {
            Ok(()) => return,
            Err(e) => {
                srv.migrate_sockets.by_addr.remove(&addr);
                let (timed_out, what) = match e {
                    SocketError::Connect => {
                        c.out
                            .error("-IOERR error or timeout connecting to the client");
                        return;
                    }
                    SocketError::Write { timed_out } => (timed_out, "writing"),
                    SocketError::Read { timed_out } => (timed_out, "reading"),
                };
                // A cached connection the target closed is worth one fresh attempt.
                if may_retry && !timed_out {
                    may_retry = false;
                    continue;
                }
                c.out.error(&format!(
                    "-IOERR error or timeout {what} to target instance"
                ));
                return;
            }
        }
    }
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// One attempt: connect (or reuse), send AUTH/SELECT/RESTOREs, read the replies, delete what
/// moved. Ok once the client has its reply; Err(socket error) before anything was deleted or
/// answered, or after (then the retry is refused by the caller's `may_retry` rules).
#[allow(clippy::too_many_arguments)]
fn transfer(
    srv: &mut Server,
    c: &mut Client,
    o: &Options<'_>,
    keys: &[&[u8]],
    addr: &str,
    (host, port): (&str, u16),
    dbid: i64,
    timeout: Duration,
) -> Result<(), SocketError> {
    let now = crate::server::now_ms();
    if !srv.migrate_sockets.by_addr.contains_key(addr) {
        if srv.migrate_sockets.by_addr.len() >= CACHE_ITEMS
            && let Some(k) = srv.migrate_sockets.by_addr.keys().next().cloned()
        {
            srv.migrate_sockets.by_addr.remove(&k);
        }
        let stream = connect(host, port, timeout).ok_or(SocketError::Connect)?;
        srv.migrate_sockets.by_addr.insert(
            addr.to_string(),
            MigrateSocket {
                stream,
                last_dbid: -1,
                last_use_ms: now,
            },
        );
    }
    let select = srv.migrate_sockets.by_addr[addr].last_dbid != dbid;
    // The request: AUTH, SELECT, then one RESTORE per live key (a key that expired since
    // the lookup is skipped).
    let mut req = Vec::new();
    if let Some((user, pw)) = o.auth {
        req.extend_from_slice(if user.is_some() { b"*3\r\n" } else { b"*2\r\n" });
        bulk(&mut req, b"AUTH");
        if let Some(u) = user {
            bulk(&mut req, u);
        }
        bulk(&mut req, pw);
    }
    if select {
        req.extend_from_slice(b"*2\r\n");
        bulk(&mut req, b"SELECT");
        bulk(&mut req, dbid.to_string().as_bytes());
    }
    let compress = srv.cfg.bool(crate::config::P::Rdbcompression);
    let mut sent: Vec<&[u8]> = Vec::with_capacity(keys.len());
    for k in keys {
        let ttl = match srv.dbs[c.db].expires.get(k) {
            Some(&at) => {
                let left = at - crate::server::now_ms();
                if left < 0 {
                    continue;
                }
                left.max(1)
            }
            None => 0,
        };
        let Some(obj) = srv.dbs[c.db].dict.get(k) else {
            continue;
        };
        let payload = dump_payload(&obj.val, compress);
        req.extend_from_slice(if o.replace { b"*5\r\n" } else { b"*4\r\n" });
        bulk(&mut req, b"RESTORE");
        bulk(&mut req, k);
        bulk(&mut req, ttl.to_string().as_bytes());
        bulk(&mut req, &payload);
        if o.replace {
            bulk(&mut req, b"REPLACE");
        }
        sent.push(k);
    }
    let sock = srv
        .migrate_sockets
        .by_addr
        .get_mut(addr)
        .expect("connection just made");
    sock.last_use_ms = now;
    let s = &mut sock.stream;
    let _ = s.set_write_timeout(Some(timeout));
    let _ = s.set_read_timeout(Some(timeout));
    for chunk in req.chunks(64 * 1024) {
        if let Err(e) = s.write_all(chunk) {
            return Err(SocketError::Write {
                timed_out: timed_out(&e),
            });
        }
    }
    let auth_reply = match o.auth {
        Some(_) => Some(read_line(s)?),
        None => None,
    };
    let select_reply = if select { Some(read_line(s)?) } else { None };
    let setup_error = [&auth_reply, &select_reply]
        .into_iter()
        .flatten()
        .find(|r| r.first() == Some(&b'-'))
        .cloned();
    let mut error_from_target: Option<Vec<u8>> = None;
    let mut moved: Vec<&[u8]> = Vec::new();
    let mut socket_error = None;
    for (j, k) in sent.iter().enumerate() {
        let reply = match read_line(s) {
            Ok(r) => r,
            Err(e) => {
                // Nothing was processed yet: the caller may retry on a fresh connection.
                if j == 0 {
                    return Err(e);
                }
                socket_error = Some(e);
                break;
            }
        };
        let err = setup_error
            .clone()
            .or_else(|| (reply.first() == Some(&b'-')).then(|| reply.clone()));
        match err {
            Some(e) => {
                error_from_target.get_or_insert(e);
            }
            None => moved.push(k),
        }
    }
    if error_from_target.is_some() {
        sock.last_dbid = -1;
    }
    if socket_error.is_some() {
        srv.migrate_sockets.by_addr.remove(addr);
    }
    if !o.copy && !moved.is_empty() {
        for k in &moved {
            srv.dbs[c.db].remove(k);
            srv.touch_watched(c.db, k);
            srv.notify(notify::GENERIC, "del", k, c.db);
            srv.dirty += 1;
        }
        let mut del = vec![b"DEL".to_vec()];
        del.extend(moved.iter().map(|k| k.to_vec()));
        c.rewritten_argv = Some(del);
    }
    srv.touches_signalled = true;
    match (error_from_target, socket_error) {
        (Some(e), _) => {
            let text = String::from_utf8_lossy(&e[1..]).into_owned();
            c.out
                .error(&format!("Target instance replied with error: {text}"));
            Ok(())
        }
        (None, Some(_)) => {
            c.out
                .error("-IOERR error or timeout reading to target instance");
            Ok(())
        }
        (None, None) => {
            if let Some(sock) = srv.migrate_sockets.by_addr.get_mut(addr) {
                sock.last_dbid = dbid;
            }
            c.out.ok();
            Ok(())
        }
    }
}
