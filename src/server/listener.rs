//! TCP listening sockets for the `bind` addresses.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub struct Listener {
    /// Identifies the listener in request tags (listeners can be replaced at run time).
    pub id: u32,
    pub fd: OwnedFd,
    pub addr: SocketAddr,
    /// Whether a multishot accept is armed on it.
    pub armed: bool,
}

fn cvt(r: i32) -> std::io::Result<i32> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Open a listening socket. IPv6 sockets are v6-only, as Redis sets them.
pub fn listen(ip: IpAddr, port: u16, backlog: i32) -> std::io::Result<Listener> {
    let addr = SocketAddr::new(ip, port);
    let family = if ip.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket syscalls on a descriptor we own; every pointer passed references a
    // local value of the size we pass with it.
    unsafe {
        let fd = cvt(libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let owned = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        cvt(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            sz,
        ))?;
        if ip.is_ipv6() {
            cvt(libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                sz,
            ))?;
        }
        let (storage, len) = sockaddr_of(&addr);
        cvt(libc::bind(
            fd,
            &storage as *const _ as *const libc::sockaddr,
            len,
        ))?;
        cvt(libc::listen(fd, backlog))?;
        let addr = local_addr(fd).unwrap_or(addr);
        Ok(Listener {
            id: 0,
            fd: owned,
            addr,
            armed: false,
        })
    }
}

fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(
                IpAddr::V6(ip),
                u16::from_be(sin6.sin6_port),
            ))
        }
        _ => None,
    }
}

pub fn local_addr(fd: i32) -> Option<SocketAddr> {
    // SAFETY: getsockname writes at most `len` bytes into the zeroed storage.
    unsafe {
        let mut s: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(fd, &mut s as *mut _ as *mut libc::sockaddr, &mut len) < 0 {
            return None;
        }
        from_storage(&s)
    }
}

pub fn peer_addr(fd: i32) -> Option<SocketAddr> {
    // SAFETY: getpeername writes at most `len` bytes into the zeroed storage.
    unsafe {
        let mut s: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getpeername(fd, &mut s as *mut _ as *mut libc::sockaddr, &mut len) < 0 {
            return None;
        }
        from_storage(&s)
    }
}

/// Format an address as Redis does in CLIENT LIST (`ip:port`, IPv6 without brackets).
pub fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => match v.ip().to_ipv4_mapped() {
            Some(v4) => format!("{}:{}", v4, v.port()),
            None => format!("{}:{}", v.ip(), v.port()),
        },
    }
}

/// Apply the per-connection socket options Redis sets: TCP_NODELAY and keepalive.
pub fn tune_client_socket(fd: &OwnedFd, keepalive_secs: i64) {
    let fd = fd.as_raw_fd();
    let one: libc::c_int = 1;
    let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt on a socket we own with pointers to locals of the stated size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            sz,
        );
        if keepalive_secs > 0 {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_KEEPALIVE,
                &one as *const _ as *const libc::c_void,
                sz,
            );
            let idle = keepalive_secs as libc::c_int;
            let intvl = (keepalive_secs / 3).max(1) as libc::c_int;
            let cnt: libc::c_int = 3;
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPIDLE,
                &idle as *const _ as *const libc::c_void,
                sz,
            );
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPINTVL,
                &intvl as *const _ as *const libc::c_void,
                sz,
            );
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_KEEPCNT,
                &cnt as *const _ as *const libc::c_void,
                sz,
            );
        }
    }
}
