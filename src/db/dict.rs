//! The keyspace hash table: chained buckets in power-of-two tables that grow and shrink by
//! **incremental rehashing** (DESIGN §4), never by a stop-the-world resize.
//!
//! While a rehash is in progress two tables exist; every lookup and mutation moves a few buckets
//! from the old table to the new one (`rehash_step`), and cron spends a bounded slice of time on
//! it too. `scan` walks buckets with Redis's reverse-binary cursor, so a full iteration returns
//! every key that was present for the whole iteration even if the table grew or shrank meanwhile.
//!
//! Resizes are gated by `resize_allowed`: while a snapshot child exists the owner clears it, and a
//! table grows only past a load factor of `FORCE_RESIZE_RATIO` (touching every bucket page would
//! force copy-on-write of the whole table).

use std::hash::{BuildHasher, Hasher};

/// Load factor past which a table grows even while resizes are discouraged.
pub const FORCE_RESIZE_RATIO: usize = 5;
const INITIAL_SIZE: usize = 4;
/// A table is shrunk when it is less than this percent full.
const MIN_FILL_PERCENT: usize = 10;
/// Empty buckets one rehash step may visit before giving up (bounds the step's cost).
const EMPTY_VISITS_PER_STEP: usize = 10;

struct Node<V> {
    /// The key's hash, so chains compare hashes before key bytes and rehashing never rehashes.
    hash: u64,
    key: Box<[u8]>,
    val: V,
    next: Option<Box<Node<V>>>,
}

type Buckets<V> = crate::alloc::pages::PageArray<Option<Box<Node<V>>>>;

struct Table<V> {
    buckets: Buckets<V>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table {
            buckets: Buckets::empty(),
            used: 0,
        }
    }

    /// A table of `n` empty buckets, from memory the kernel zero-fills lazily (see
    /// `alloc::pages`): writing a 100 MB bucket array would stall the loop.
    fn with_size(n: usize) -> Self {
        // SAFETY: `Option<Box<_>>` is guaranteed to represent `None` as a null pointer, so
        // all-zero memory is `n` valid empty buckets.
        let buckets = unsafe { Buckets::zeroed(n) };
        Table { buckets, used: 0 }
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

/// The seed of every table's hash function, chosen once per process.
#[derive(Clone)]
pub struct KeyHasher(std::collections::hash_map::RandomState);

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher(std::collections::hash_map::RandomState::new())
    }
}

impl KeyHasher {
    pub fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.0.build_hasher();
        h.write(key);
        h.finish()
    }
}

pub struct Dict<V> {
    ht: [Table<V>; 2],
    /// Next bucket of `ht[0]` to move, or `None` when not rehashing.
    rehash_idx: Option<usize>,
    hasher: KeyHasher,
    pub resize_allowed: bool,
    /// State only big (mapped) tables need, boxed so that the many small tables inside
    /// hashes, sets and sorted sets stay small.
    big: Option<Box<BigTables>>,
}

#[derive(Default)]
struct BigTables {
    /// A grown table being prepared by the helper thread: (buckets, where it arrives).
    incoming: Option<(
        usize,
        std::sync::mpsc::Receiver<crate::alloc::pages::PreparedPages>,
    )>,
    /// Emptied mapped bucket arrays of finished rehashes, given back to the kernel a slice at
    /// a time by `release_retired` (dropping a big one at once would stall the loop).
    retired: Vec<crate::alloc::pages::RetiredPages>,
}

impl<V> Dict<V> {
    pub fn new(hasher: KeyHasher) -> Self {
        Dict {
            ht: [Table::empty(), Table::empty()],
            rehash_idx: None,
            hasher,
            resize_allowed: true,
            big: None,
        }
    }

    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Total buckets of both tables (for INFO/DEBUG).
    pub fn slots(&self) -> usize {
        self.ht[0].buckets.len() + self.ht[1].buckets.len()
    }

    pub fn clear(&mut self) {
        // Drop chains iteratively: a recursive Box drop of a long chain could overflow the stack.
        for t in &mut self.ht {
            for b in t.buckets.iter_mut() {
                let mut cur = b.take();
                while let Some(mut n) = cur {
                    cur = n.next.take();
                }
            }
        }
        for i in 0..2 {
            let old = std::mem::replace(&mut self.ht[i], Table::empty());
            self.retire(old);
        }
        self.rehash_idx = None;
        if let Some(b) = self.big.as_mut() {
            b.incoming = None;
        }
    }

    /// An emptied table's buckets: a heap array is freed now, a mapping is kept to be returned
    /// in slices.
    fn retire(&mut self, t: Table<V>) {
        let r = t.buckets.into_retired();
        if r.is_mapped() {
            self.big
                .get_or_insert_with(Default::default)
                .retired
                .push(r);
        }
    }

    /// Give back up to `bytes` of retired bucket arrays; true while some remain.
    pub fn release_retired(&mut self, bytes: usize) -> bool {
        let Some(big) = self.big.as_mut() else {
            return false;
        };
        while let Some(r) = big.retired.last_mut() {
            if r.release_some(bytes) {
                big.retired.pop();
            } else {
                return true;
            }
        }
        false
    }

    /// Move up to `n` buckets from the old table to the new one. Returns true while work remains.
    pub fn rehash_step(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * EMPTY_VISITS_PER_STEP;
        let mut moved = 0;
        while moved < n && self.ht[0].used > 0 {
            debug_assert!(idx < self.ht[0].buckets.len());
            while self.ht[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut cur = self.ht[0].buckets[idx].take();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let b = (node.hash as usize) & self.ht[1].mask();
                node.next = self.ht[1].buckets[b].take();
                self.ht[1].buckets[b] = Some(node);
                self.ht[0].used -= 1;
                self.ht[1].used += 1;
            }
            idx += 1;
            moved += 1;
        }
        if self.ht[0].used == 0 {
            let new = std::mem::replace(&mut self.ht[1], Table::empty());
            let done = std::mem::replace(&mut self.ht[0], new);
            self.retire(done);
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Rehash for up to `budget` of wall time in steps of 100 buckets (the cron's share).
    pub fn rehash_for(&mut self, budget: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        while self.rehash_step(100) {
            if start.elapsed() >= budget {
                return true;
            }
        }
        false
    }

    /// Size an empty table for `n` entries at once (RDB loading knows the count up front:
    /// growing step by step while millions of keys arrive would chain and rehash).
    pub fn expand_for(&mut self, n: usize) {
        if self.ht[0].buckets.is_empty() && !self.is_rehashing() && n > INITIAL_SIZE {
            self.ht[0] = Table::with_size(n.next_power_of_two());
        }
    }

    fn start_resize(&mut self, size: usize) {
        debug_assert!(self.rehash_idx.is_none());
        let size = size.max(INITIAL_SIZE).next_power_of_two();
        if self.ht[0].buckets.is_empty() {
            self.ht[0] = Table::with_size(size);
            return;
        }
        if size == self.ht[0].buckets.len() {
            return;
        }
        self.ht[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht[0].buckets.len();
        if size == 0 {
            self.start_resize(INITIAL_SIZE);
            return;
        }
        let used = self.ht[0].used;
        if used >= size && (self.resize_allowed || used / size > FORCE_RESIZE_RATIO) {
            let want = (used + 1).next_power_of_two();
            let bytes = want * std::mem::size_of::<Option<Box<Node<V>>>>();
            if bytes < crate::alloc::pages::MMAP_MIN_BYTES || used / size > FORCE_RESIZE_RATIO {
                // Small, or we waited too long for the helper: allocate here.
                if let Some(b) = self.big.as_mut() {
                    b.incoming = None;
                }
                self.start_resize(want);
                return;
            }
            // Big: have the helper thread populate it; keep chaining meanwhile (the load factor
            // passes 1 for the milliseconds that takes) and install it when it arrives.
            let big = self.big.get_or_insert_with(Default::default);
            match &big.incoming {
                None => big.incoming = Some((want, crate::alloc::pages::prepare_async(bytes))),
                Some((n, rx)) => match rx.try_recv() {
                    Ok(pages) => {
                        let n = *n;
                        big.incoming = None;
                        // SAFETY: zero is `None` for every bucket, and the mapping was made
                        // for `n` buckets.
                        let buckets = unsafe { Buckets::from_prepared(pages, n) };
                        self.ht[1] = Table { buckets, used: 0 };
                        self.rehash_idx = Some(0);
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => {}
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        big.incoming = None;
                        self.start_resize(want);
                    }
                },
            }
        }
    }

    /// Shrink a sparse table (called from cron, as Redis's tryResizeHashTables).
    pub fn shrink_if_sparse(&mut self) {
        if self.is_rehashing() || !self.resize_allowed {
            return;
        }
        let size = self.ht[0].buckets.len();
        let used = self.ht[0].used;
        if size > INITIAL_SIZE && used * 100 / size < MIN_FILL_PERCENT {
            self.start_resize(used);
        }
    }

    fn step_if_rehashing(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash_step(1);
        }
    }

    fn find(&self, key: &[u8], h: u64) -> Option<&Node<V>> {
        for t in 0..2 {
            let table = &self.ht[t];
            if table.buckets.is_empty() {
                continue;
            }
            let mut cur = table.buckets[(h as usize) & table.mask()].as_deref();
            while let Some(n) = cur {
                if n.hash == h && &*n.key == key {
                    return Some(n);
                }
                cur = n.next.as_deref();
            }
            if !self.is_rehashing() {
                break;
            }
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.is_empty() {
            return None;
        }
        let h = self.hasher.hash(key);
        self.find(key, h).map(|n| &n.val)
    }

    /// Lookup that also advances a pending rehash by one step (as Redis's dictFind).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_key_value_mut(key).map(|(_, v)| v)
    }

    /// The stored key (its bytes stay at the same address until the entry is removed: nodes
    /// and keys are boxed, rehashing moves only the boxes' pointers) and the value.
    pub fn get_key_value_mut(&mut self, key: &[u8]) -> Option<(&[u8], &mut V)> {
        if self.is_empty() {
            return None;
        }
        self.step_if_rehashing();
        let h = self.hasher.hash(key);
        let tables = if self.is_rehashing() { 2 } else { 1 };
        for t in 0..tables {
            let table = &mut self.ht[t];
            if table.buckets.is_empty() {
                continue;
            }
            let mask = table.mask();
            let mut cur: *mut Option<Box<Node<V>>> = &mut table.buckets[(h as usize) & mask];
            // SAFETY: `cur` always points at a link (bucket head or `next` field) owned by this
            // table, which `&mut self` borrows exclusively for the returned lifetime; nothing
            // else touches the chain while we walk it, so turning the final node into a `&mut`
            // with the lifetime of `&mut self` is sound. (A raw walk avoids the borrow checker's
            // conditional-return limitation without a second traversal.)
            unsafe {
                while let Some(node) = (*cur).as_deref_mut() {
                    if node.hash == h && &*node.key == key {
                        return Some((&node.key, &mut node.val));
                    }
                    cur = &mut node.next;
                }
            }
        }
        None
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: &[u8], val: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, val));
        }
        self.insert_new(key.into(), val);
        None
    }

    /// The hash a key is stored under (with `prefetch` and `try_insert_hashed`).
    pub fn hash_of(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// Ask the CPU to start loading the bucket `h` falls in, so that an insert issued after
    /// other work (parsing the key's value) does not wait for memory. Only a hint.
    pub fn prefetch(&self, h: u64) {
        let t = &self.ht[if self.is_rehashing() { 1 } else { 0 }];
        if t.buckets.is_empty() {
            return;
        }
        let p = &t.buckets[(h as usize) & t.mask()] as *const _ as *const i8;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and has no architectural effect; SSE is part of the
        // x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    /// Insert unless the key exists (one walk of its chain): Err gives the entry back when it
    /// does. `h` must be `hash_of(&key)`. RDB loading, where duplicates mean a corrupt file.
    pub fn try_insert_hashed(
        &mut self,
        key: Box<[u8]>,
        val: V,
        h: u64,
    ) -> Result<(), (Box<[u8]>, V)> {
        self.step_if_rehashing();
        self.expand_if_needed();
        if self.find(&key, h).is_some() {
            return Err((key, val));
        }
        self.insert_hashed(key, val, h);
        Ok(())
    }

    /// Insert a key known to be absent.
    pub fn insert_new(&mut self, key: Box<[u8]>, val: V) {
        self.step_if_rehashing();
        self.expand_if_needed();
        let h = self.hasher.hash(&key);
        self.insert_hashed(key, val, h);
    }

    fn insert_hashed(&mut self, key: Box<[u8]>, val: V, h: u64) {
        let t = if self.is_rehashing() { 1 } else { 0 };
        let table = &mut self.ht[t];
        let b = (h as usize) & table.mask();
        let next = table.buckets[b].take();
        table.buckets[b] = Some(Box::new(Node {
            hash: h,
            key,
            val,
            next,
        }));
        table.used += 1;
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        if self.is_empty() {
            return None;
        }
        self.step_if_rehashing();
        let h = self.hasher.hash(key);
        for t in 0..2 {
            if self.ht[t].buckets.is_empty() {
                continue;
            }
            let b = (h as usize) & self.ht[t].mask();
            let mut link = &mut self.ht[t].buckets[b];
            loop {
                match link {
                    None => break,
                    Some(n) if n.hash == h && &*n.key == key => {
                        let mut node = link.take().unwrap();
                        *link = node.next.take();
                        self.ht[t].used -= 1;
                        return Some((node.key, node.val));
                    }
                    Some(n) => link = &mut n.next,
                }
            }
            if self.rehash_idx.is_none() {
                break;
            }
        }
        None
    }

    /// Visit every entry (no rehash step, no mutation): KEYS, snapshots, DEBUG DIGEST.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        for t in &self.ht {
            for b in t.buckets.iter() {
                let mut cur = b.as_deref();
                while let Some(n) = cur {
                    f(&n.key, &n.val);
                    cur = n.next.as_deref();
                }
            }
        }
    }

    /// A uniformly chosen bucket's random entry (what RANDOMKEY and eviction sampling use).
    pub fn random_entry(&mut self, rng: &mut crate::db::Rng) -> Option<(&[u8], &V)> {
        self.step_if_rehashing();
        self.random_entry_ro(rng)
    }

    /// The same without the rehash step, for callers holding a shared reference.
    pub fn random_entry_ro(&self, rng: &mut crate::db::Rng) -> Option<(&[u8], &V)> {
        if self.is_empty() {
            return None;
        }
        // Pick a non-empty bucket: in the old table only past the rehash index.
        let (t, b) = loop {
            if let Some(idx) = self.rehash_idx {
                let s0 = self.ht[0].buckets.len();
                let total = s0 + self.ht[1].buckets.len();
                let r = idx + (rng.next_u64() as usize) % (total - idx);
                let (t, b) = if r >= s0 { (1, r - s0) } else { (0, r) };
                if self.ht[t].buckets[b].is_some() {
                    break (t, b);
                }
            } else {
                let b = (rng.next_u64() as usize) & self.ht[0].mask();
                if self.ht[0].buckets[b].is_some() {
                    break (0, b);
                }
            }
        };
        let mut len = 0;
        let mut cur = self.ht[t].buckets[b].as_deref();
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut pick = (rng.next_u64() as usize) % len;
        let mut cur = self.ht[t].buckets[b].as_deref();
        while let Some(n) = cur {
            if pick == 0 {
                return Some((&n.key, &n.val));
            }
            pick -= 1;
            cur = n.next.as_deref();
        }
        None
    }

    fn emit_bucket(&self, t: usize, b: usize, f: &mut impl FnMut(&[u8], &V)) {
        let mut cur = self.ht[t].buckets[b].as_deref();
        while let Some(n) = cur {
            f(&n.key, &n.val);
            cur = n.next.as_deref();
        }
    }

    /// One SCAN step from `cursor`: emit the entries of one bucket (and, while rehashing, of all
    /// the larger table's buckets that expand it); return the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor as usize;
        if !self.is_rehashing() {
            let m0 = self.ht[0].mask();
            self.emit_bucket(0, v & m0, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.ht[0].buckets.len() <= self.ht[1].buckets.len() {
                (0, 1)
            } else {
                (1, 0)
            };
            let m0 = self.ht[small].mask();
            let m1 = self.ht[large].mask();
            self.emit_bucket(small, v & m0, &mut f);
            loop {
                self.emit_bucket(large, v & m1, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v as u64
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn insert_get_remove_through_growth() {
        let mut d: Dict<u32> = Dict::new(KeyHasher::default());
        for i in 0..10_000u32 {
            assert!(d.insert(format!("k{i}").as_bytes(), i).is_none());
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000u32 {
            assert_eq!(d.get(format!("k{i}").as_bytes()), Some(&i));
        }
        for i in 0..5_000u32 {
            assert_eq!(d.remove(format!("k{i}").as_bytes()), Some(i));
        }
        assert_eq!(d.len(), 5_000);
        assert!(d.get(b"k1").is_none());
    }

    #[test]
    fn rehash_is_incremental() {
        let mut d: Dict<()> = Dict::new(KeyHasher::default());
        for i in 0..1024u32 {
            d.insert(&i.to_le_bytes(), ());
        }
        while d.rehash_step(1000) {}
        d.insert(b"x", ()); // 1025 > 1024 buckets: starts a rehash
        assert!(d.is_rehashing());
        assert!(d.slots() > 1024);
    }

    #[test]
    fn scan_returns_every_key_across_rehash() {
        let mut d: Dict<()> = Dict::new(KeyHasher::default());
        for i in 0..1000u32 {
            d.insert(format!("a{i}").as_bytes(), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut added = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            // Grow the table under the iteration (a bounded number of times, or the
            // iteration would chase an ever-growing table).
            if added < 5000 {
                for _ in 0..50 {
                    d.insert(format!("b{added}").as_bytes(), ());
                    added += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000u32 {
            assert!(seen.contains(format!("a{i}").as_bytes()), "missing a{i}");
        }
    }

    #[test]
    fn shrink_then_scan_complete() {
        let mut d: Dict<()> = Dict::new(KeyHasher::default());
        for i in 0..4000u32 {
            d.insert(format!("a{i}").as_bytes(), ());
        }
        while d.rehash_step(1000) {}
        let mut seen = HashSet::new();
        let mut cursor = d.scan(0, |k, _| {
            seen.insert(k.to_vec());
        });
        for i in 100..4000u32 {
            d.remove(format!("a{i}").as_bytes());
            seen.insert(format!("a{i}").into_bytes());
        }
        d.shrink_if_sparse();
        while cursor != 0 {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
        }
        for i in 0..100u32 {
            assert!(seen.contains(format!("a{i}").as_bytes()));
        }
    }
}
