//! CLUSTER, READONLY, READWRITE and ASKING as a Redis 7.0 server started without
//! `cluster-enabled` answers them: forkv runs standalone only, so each says cluster support is
//! disabled (clients such as redis-cli use that answer to tell a standalone server apart).

use crate::net::client::Client;
use crate::server::Server;

pub fn disabled(_: &mut Server, c: &mut Client, _: &[&[u8]]) {
    c.out.error("This instance has cluster support disabled");
}
