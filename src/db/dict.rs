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

use allocator_api2::alloc::{Allocator, Global, Layout, handle_alloc_error};
use std::hash::{BuildHasher, Hasher};
use std::ptr::NonNull;

/// Load factor past which a table grows even while resizes are discouraged.
pub const FORCE_RESIZE_RATIO: usize = 5;
const INITIAL_SIZE: usize = 4;
/// A table is shrunk when it is less than this percent full.
const MIN_FILL_PERCENT: usize = 10;
/// Empty buckets one rehash step may visit before giving up (bounds the step's cost).
const EMPTY_VISITS_PER_STEP: usize = 10;

/// A chain node: one block holding the link, the value and the key's bytes (after `key_len`).
/// No cached hash and no key pointer: 24 bytes less per entry than a node with a boxed key and a
/// stored hash (DESIGN §9: table slots small), at the price of rehashing keys when they move.
#[repr(C)]
struct Node<V> {
    next: Link<V>,
    val: V,
    /// The key's length, or `LONG_KEY` when a u64 length precedes the bytes (one byte: most
    /// keys are short, and a byte less often means an allocation class less).
    key_len: u8,
}

type Link<V> = Option<NonNull<Node<V>>>;

const LONG_KEY: u8 = u8::MAX;

impl<V> Node<V> {
    const KEY_OFFSET: usize = std::mem::offset_of!(Node<V>, key_len) + 1;

    fn layout(key_len: usize) -> Layout {
        let prefix = if key_len >= LONG_KEY as usize { 8 } else { 0 };
        let size = Self::KEY_OFFSET + prefix + key_len;
        match Layout::from_size_align(size, std::mem::align_of::<Self>()) {
            Ok(l) => l,
            // A key this long cannot exist in memory; treat it like any failed allocation.
            Err(_) => handle_alloc_error(Layout::new::<Self>()),
        }
    }

    /// The key's bytes.
    ///
    /// # Safety
    /// `p` must point at a live node made by `Dict::alloc_node`; the slice lives as long as it.
    unsafe fn key<'a>(p: NonNull<Self>) -> &'a [u8] {
        // SAFETY: per the contract the node is live; its key is a length-prefixed string
        // starting at `key_len`.
        unsafe { Self::key_ref(p).bytes() }
    }

    fn key_ref(p: NonNull<Self>) -> KeyRef {
        // SAFETY: `key_len` is a field of the node, so the offset stays inside its block.
        KeyRef(unsafe { p.cast::<u8>().add(std::mem::offset_of!(Node<V>, key_len)) })
    }
}

/// A thin pointer to a stored key: its length prefix (one byte, or `LONG_KEY` then a u64) with
/// the bytes after it. A sorted set's skiplist keeps these instead of copies of its members
/// (Redis's skiplist and dict share one sds the same way); valid until the entry is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef(NonNull<u8>);

impl KeyRef {
    /// The key's bytes.
    ///
    /// # Safety
    /// The prefix and bytes must still be alive (the entry not removed, the buffer not freed),
    /// and the slice must not outlive them.
    pub unsafe fn bytes<'a>(self) -> &'a [u8] {
        // SAFETY: per the contract, a length prefix as `alloc_node` and `encode` write it is
        // live at `self.0`, followed by that many bytes.
        unsafe {
            let p = self.0.as_ptr() as *const u8;
            match *p {
                LONG_KEY => {
                    let n = std::ptr::read_unaligned(p.add(1) as *const u64) as usize;
                    std::slice::from_raw_parts(p.add(9), n)
                }
                n => std::slice::from_raw_parts(p.add(1), n as usize),
            }
        }
    }

    /// `bytes` as a length-prefixed string (for keys kept outside a dict: tests, the empty
    /// member of a skiplist's head).
    pub fn encode(bytes: &[u8]) -> Box<[u8]> {
        let mut v = Vec::with_capacity(bytes.len() + 9);
        if bytes.len() >= LONG_KEY as usize {
            v.push(LONG_KEY);
            v.extend_from_slice(&(bytes.len() as u64).to_ne_bytes());
        } else {
            v.push(bytes.len() as u8);
        }
        v.extend_from_slice(bytes);
        v.into_boxed_slice()
    }

    /// The key in `encoded` (made by `encode`), which must outlive every use of it.
    pub fn of_encoded(encoded: &[u8]) -> KeyRef {
        KeyRef(NonNull::from(encoded).cast())
    }

    pub fn to_bits(self) -> u64 {
        self.0.as_ptr() as u64
    }

    /// # Safety
    /// `bits` must come from `to_bits` of a KeyRef.
    pub unsafe fn from_bits(bits: u64) -> KeyRef {
        // SAFETY: per the contract, `bits` is a non-null pointer's address.
        KeyRef(unsafe { NonNull::new_unchecked(bits as *mut u8) })
    }
}

type Buckets<V> = crate::alloc::pages::PageArray<Link<V>>;

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
        // SAFETY: `Option<NonNull<_>>` is guaranteed to represent `None` as a null pointer, so
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

/// The table, generic over where its nodes live: the keyspace uses the global allocator, the
/// tables inside hashes, sets and sorted sets the value heap (`alloc::heap::ValueHeap`).
pub struct Dict<V, A: Allocator = Global> {
    alloc: A,
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

impl<V> Dict<V, Global> {
    pub fn new(hasher: KeyHasher) -> Self {
        Dict::new_in(hasher, Global)
    }
}

impl<V, A: Allocator> Dict<V, A> {
    pub fn new_in(hasher: KeyHasher, alloc: A) -> Self {
        Dict {
            alloc,
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
        for t in 0..2 {
            for b in 0..self.ht[t].buckets.len() {
                let mut cur = self.ht[t].buckets[b].take();
                while let Some(n) = cur {
                    // SAFETY: `n` is a live node of this table, unlinked from its bucket above;
                    // it is freed exactly once here.
                    cur = unsafe { (*n.as_ptr()).next };
                    drop(unsafe { self.free_node(n) });
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
            while let Some(node) = cur {
                // SAFETY: `node` is a live node of the old table's chain, which we own; it is
                // relinked into the new table, never freed here.
                let h = self.hasher.hash(unsafe { Node::key(node) });
                let b = (h as usize) & self.ht[1].mask();
                // SAFETY: as above; `next` is a plain field of the live node.
                unsafe {
                    cur = (*node.as_ptr()).next;
                    (*node.as_ptr()).next = self.ht[1].buckets[b];
                }
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
            let bytes = want * std::mem::size_of::<Link<V>>();
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

    /// The node holding `key` (`h` is its hash).
    fn find(&self, key: &[u8], h: u64) -> Option<NonNull<Node<V>>> {
        for t in 0..2 {
            let table = &self.ht[t];
            if table.buckets.is_empty() {
                continue;
            }
            let mut cur = table.buckets[(h as usize) & table.mask()];
            while let Some(n) = cur {
                // SAFETY: nodes reachable from a bucket are live while `&self` is borrowed.
                unsafe {
                    if Node::key(n) == key {
                        return Some(n);
                    }
                    cur = (*n.as_ptr()).next;
                }
            }
            if !self.is_rehashing() {
                break;
            }
        }
        None
    }

    /// A new node for `key` and `val`, linked in front of `next`.
    fn alloc_node(&self, key: &[u8], val: V, next: Link<V>) -> NonNull<Node<V>> {
        let layout = Node::<V>::layout(key.len());
        let p = match self.alloc.allocate(layout) {
            Ok(p) => p.cast::<Node<V>>(),
            Err(_) => handle_alloc_error(layout),
        };
        let key_len = if key.len() >= LONG_KEY as usize {
            LONG_KEY
        } else {
            key.len() as u8
        };
        // SAFETY: `p` is a fresh block of `layout`: room for the header at its start (aligned
        // for `Node<V>`) and for the key bytes (with the u64 length first for long keys) at
        // KEY_OFFSET, which is what `Node::key` reads back.
        unsafe {
            p.as_ptr().write(Node { next, val, key_len });
            let mut dst = (p.as_ptr() as *mut u8).add(Node::<V>::KEY_OFFSET);
            if key_len == LONG_KEY {
                std::ptr::write_unaligned(dst as *mut u64, key.len() as u64);
                dst = dst.add(8);
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), dst, key.len());
        }
        p
    }

    /// Free an unlinked node and give its value back.
    ///
    /// # Safety
    /// `p` must be a live node made by `alloc_node` on this dict and no longer linked anywhere.
    unsafe fn free_node(&self, p: NonNull<Node<V>>) -> V {
        // SAFETY: per the contract the node is live and owned by us alone; its value is moved
        // out once and the block is freed with the layout it was allocated with.
        unsafe {
            let layout = Node::<V>::layout(Node::key(p).len());
            let val = std::ptr::read(&(*p.as_ptr()).val);
            self.alloc.deallocate(p.cast(), layout);
            val
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.is_empty() {
            return None;
        }
        let h = self.hasher.hash(key);
        // SAFETY: the node is live while `&self` is borrowed.
        self.find(key, h).map(|n| unsafe { &(*n.as_ptr()).val })
    }

    /// Lookup that also advances a pending rehash by one step (as Redis's dictFind).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_key_value_mut(key).map(|(_, v)| v)
    }

    /// The stored key (its bytes stay at the same address until the entry is removed: the key
    /// lives in its node, and rehashing moves only pointers to nodes) and the value.
    pub fn get_key_value_mut(&mut self, key: &[u8]) -> Option<(&[u8], &mut V)> {
        let n = self.find_mut(key)?;
        // SAFETY: the node is live and owned by this dict, which `&mut self` borrows
        // exclusively for the returned lifetime.
        unsafe { Some((Node::key(n), &mut (*n.as_ptr()).val)) }
    }

    /// A thin reference to the stored key (see `KeyRef`) and the value.
    pub fn get_key_ref_mut(&mut self, key: &[u8]) -> Option<(KeyRef, &mut V)> {
        let n = self.find_mut(key)?;
        // SAFETY: as in `get_key_value_mut`.
        unsafe { Some((Node::key_ref(n), &mut (*n.as_ptr()).val)) }
    }

    /// The node holding `key`, after one rehash step (as Redis's dictFind).
    fn find_mut(&mut self, key: &[u8]) -> Option<NonNull<Node<V>>> {
        if self.is_empty() {
            return None;
        }
        self.step_if_rehashing();
        let h = self.hasher.hash(key);
        self.find(key, h)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: &[u8], val: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, val));
        }
        self.insert_new(key, val);
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

    /// Insert unless the key exists (one walk of its chain): Err gives the value back when it
    /// does. `h` must be `hash_of(key)`. RDB loading, where duplicates mean a corrupt file.
    pub fn try_insert_hashed(&mut self, key: &[u8], val: V, h: u64) -> Result<(), V> {
        self.step_if_rehashing();
        self.expand_if_needed();
        if self.find(key, h).is_some() {
            return Err(val);
        }
        self.insert_hashed(key, val, h);
        Ok(())
    }

    /// Insert a key known to be absent.
    pub fn insert_new(&mut self, key: &[u8], val: V) {
        self.step_if_rehashing();
        self.expand_if_needed();
        let h = self.hasher.hash(key);
        self.insert_hashed(key, val, h);
    }

    fn insert_hashed(&mut self, key: &[u8], val: V, h: u64) {
        let t = if self.is_rehashing() { 1 } else { 0 };
        let b = (h as usize) & self.ht[t].mask();
        let next = self.ht[t].buckets[b];
        let node = self.alloc_node(key, val, next);
        let table = &mut self.ht[t];
        table.buckets[b] = Some(node);
        table.used += 1;
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
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
            let mut prev: Link<V> = None;
            let mut cur = self.ht[t].buckets[b];
            while let Some(n) = cur {
                // SAFETY: the chain's nodes are live and ours (`&mut self`); the match is
                // unlinked (from its bucket or its predecessor) before it is freed, once.
                unsafe {
                    let next = (*n.as_ptr()).next;
                    if Node::key(n) == key {
                        match prev {
                            None => self.ht[t].buckets[b] = next,
                            Some(p) => (*p.as_ptr()).next = next,
                        }
                        self.ht[t].used -= 1;
                        return Some(self.free_node(n));
                    }
                    prev = cur;
                    cur = next;
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
        for t in 0..2 {
            for b in 0..self.ht[t].buckets.len() {
                self.emit_bucket(t, b, &mut f);
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
        self.emit_bucket(t, b, &mut |_, _| len += 1);
        let mut cur = self.ht[t].buckets[b];
        for _ in 0..(rng.next_u64() as usize) % len {
            // SAFETY: `pick < len` nodes follow the bucket head, all live while `&self` is.
            cur = cur.and_then(|n| unsafe { (*n.as_ptr()).next });
        }
        // SAFETY: as above.
        cur.map(|n| unsafe { (Node::key(n), &(*n.as_ptr()).val) })
    }

    fn emit_bucket<'a>(&'a self, t: usize, b: usize, f: &mut impl FnMut(&'a [u8], &'a V)) {
        let mut cur = self.ht[t].buckets[b];
        while let Some(n) = cur {
            // SAFETY: nodes reachable from a bucket are live while `&self` is borrowed.
            unsafe {
                f(Node::key(n), &(*n.as_ptr()).val);
                cur = (*n.as_ptr()).next;
            }
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

impl<V, A: Allocator> Drop for Dict<V, A> {
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
    fn every_value_is_dropped_once_and_keys_keep_their_bytes() {
        use std::rc::Rc;
        let token = Rc::new(());
        let mut d: Dict<(Rc<()>, usize)> = Dict::new(KeyHasher::default());
        // Keys of every length around the header's size and past the one-byte length,
        // including the empty key.
        let key = |i: usize| -> Vec<u8> { (0..i % 300).map(|j| (i * 31 + j) as u8).collect() };
        for i in 0..3000 {
            d.insert(&key(i), (token.clone(), i));
        }
        let distinct = (0..3000).map(key).collect::<HashSet<_>>().len();
        assert_eq!(d.len(), distinct);
        assert_eq!(Rc::strong_count(&token), 1 + distinct);
        let mut seen = 0;
        d.for_each(|k, (_, i)| {
            assert_eq!(k, &key(*i)[..]);
            seen += 1;
        });
        assert_eq!(seen, distinct);
        for i in (0..3000).step_by(3) {
            if let Some((_, j)) = d.remove(&key(i)) {
                assert_eq!(key(i), key(j));
            }
        }
        assert_eq!(Rc::strong_count(&token), 1 + d.len());
        let (k, v) = d.get_key_value_mut(&key(1)).unwrap();
        assert_eq!(k, &key(1)[..]);
        v.1 = 7;
        assert_eq!(d.get(&key(1)).unwrap().1, 7);
        d.clear();
        assert_eq!(Rc::strong_count(&token), 1);
        for i in 0..100 {
            d.insert(&key(i), (token.clone(), i));
        }
        drop(d);
        assert_eq!(Rc::strong_count(&token), 1);
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
