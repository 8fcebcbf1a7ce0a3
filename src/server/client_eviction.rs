//! Client eviction (`maxmemory-clients`): when the connections together hold more memory than
//! the limit, the ones holding the most are closed until they fit, as Redis 7.0 does before it
//! sleeps. Clients that ran CLIENT NO-EVICT ON, MONITOR clients and the script client are never
//! evicted, but their memory counts towards the total.

use super::Server;
use crate::config::P;
use crate::net::client::{Client, Closing};

/// The smallest limit applied: a tiny setting must not lock every client out.
const MIN_LIMIT: usize = 128 * 1024;

impl Server {
    /// The limit in bytes (0: none): `maxmemory-clients` as bytes, or as a percentage of
    /// `maxmemory` (only when that is set).
    pub fn client_eviction_limit(&self) -> usize {
        let v = self.cfg.int(P::MaxmemoryClients);
        let maxmemory = self.cfg.int(P::Maxmemory);
        let limit = if v < 0 && maxmemory > 0 {
            (maxmemory as f64 * (-v) as f64 / 100.0) as usize
        } else if v > 0 {
            v as usize
        } else {
            return 0;
        };
        limit.max(MIN_LIMIT)
    }

    /// Close the largest evictable clients while the clients' memory is at or over the limit.
    pub fn evict_clients(&mut self) {
        let limit = self.client_eviction_limit();
        if limit == 0 {
            return;
        }
        let mut total = 0usize;
        let mut candidates: Vec<(usize, u32)> = Vec::new();
        for (&_, &slot) in &self.client_ids {
            let Some(c) = self.clients[slot as usize].as_deref() else {
                continue;
            };
            if c.monitor || c.is_script {
                continue;
            }
            let mem = c.memory_usage();
            total += mem;
            if !c.no_evict && c.closing != Closing::Now {
                candidates.push((mem, slot));
            }
        }
        if total < limit {
            return;
        }
        // Largest first; between equals, the older connection (lower slot order is stable).
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut candidates = candidates.into_iter();
        while total >= limit {
            let Some((mem, slot)) = candidates.next() else {
                log::warn!("Over client maxmemory after evicting all evictable clients");
                break;
            };
            if let Some(c) = self.clients[slot as usize].as_deref() {
                log::info!("Evicting client: {}", client_line(c));
            }
            self.close_client_slot(slot);
            self.stats.evicted_clients += 1;
            total -= mem;
        }
    }
}

fn client_line(c: &Client) -> String {
    crate::cmd::client_cmd::info_line(c, super::now_ms())
}
