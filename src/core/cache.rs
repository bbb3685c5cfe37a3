//! A bounded cache: one entry per key, least recently used goes first.
//!
//! Entries keep their data after they go stale (a stale entry is still what
//! a subscriber shows, and later what an ETag revalidation refreshes). Two
//! bounds keep memory flat: `max_entries`, and `max_bytes` over the sizes of
//! the bodies kept (the bytes of their JSON text, as the shell measured it).
//!
//! A body that may not be kept (`Cache-Control: no-store`, or over the body
//! limit) can still be *shown*: [`Cache::show`] hands it to a watched key's
//! entry without keeping it. Such an entry is never fresh, never served to a
//! `get`, counts for nothing in `max_bytes`, and goes when its last
//! listener does.

use super::map::Map;

use super::error::FetchError;
use super::key::Key;

/// What the cache knows about one key.
#[derive(Debug, Clone)]
pub struct Entry<B> {
    /// The last good body, if any.
    pub data: Option<B>,
    /// The error of the last attempt, if it failed. Never served to `get`.
    pub error: Option<FetchError>,
    /// When `data` arrived (ms, the core's clock).
    pub updated_at: Option<u64>,
    /// How long `data` stays fresh, as asked by the request that fetched it.
    pub ttl_ms: u64,
    /// The response's `ETag`, for revalidation.
    pub etag: Option<String>,
    /// Bumped on every change, so a shell can tell a snapshot is new.
    pub version: u64,
    /// Marked stale by `invalidate`, whatever its age.
    pub invalidated: bool,
    /// The size of `data` in bytes, counted in the cache's `max_bytes`.
    pub bytes: usize,
    /// `data` is only shown to listeners, never kept or served (see
    /// [`Cache::show`]).
    pub shown_only: bool,
    tick: u64,
}

impl<B> Entry<B> {
    /// Is the data younger than `ttl_ms` at `now`?
    pub fn is_fresh(&self, now: u64, ttl_ms: u64) -> bool {
        match (
            self.data.is_some() && !self.invalidated && !self.shown_only,
            self.updated_at,
        ) {
            (true, Some(at)) => now < at.saturating_add(ttl_ms),
            _ => false,
        }
    }

    /// Is the data older than its own TTL (or missing)?
    pub fn is_stale(&self, now: u64) -> bool {
        !self.is_fresh(now, self.ttl_ms)
    }
}

/// The LRU map from key to entry.
#[derive(Debug)]
pub struct Cache<B> {
    /// Each entry's `tick` says when it was last used; the smallest goes
    /// first. (Finding it is a scan, done only when the cache is full and a
    /// new key comes in: cheaper in code than an ordered index, and `touch`,
    /// the hot path, stays O(1).)
    entries: Map<Key, Entry<B>>,
    next_tick: u64,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    next_version: u64,
}

impl<B> Cache<B> {
    /// An empty cache holding at most `max_entries` (at least 1) whose kept
    /// bodies add up to at most `max_bytes`.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Cache {
            entries: Map::default(),
            next_tick: 0,
            max_entries: max_entries.max(1),
            max_bytes,
            bytes: 0,
            next_version: 1,
        }
    }

    /// The bytes of the bodies kept now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Can a body of `size` bytes be kept at all?
    pub fn fits(&self, size: usize) -> bool {
        size <= self.max_bytes
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Look at an entry without touching its recency.
    pub fn peek(&self, key: &Key) -> Option<&Entry<B>> {
        self.entries.get(key)
    }

    /// Look at an entry and mark it most recently used.
    pub fn touch(&mut self, key: &Key) -> Option<&Entry<B>> {
        let tick = self.bump_tick();
        let entry = self.entries.get_mut(key)?;
        entry.tick = tick;
        Some(entry)
    }

    /// Keep good data of `size` bytes for `key` (the caller checked it
    /// [`fits`](Cache::fits)). Returns the keys evicted to make room.
    pub fn put_data(
        &mut self,
        key: &Key,
        data: B,
        size: usize,
        now: u64,
        ttl_ms: u64,
        etag: Option<String>,
    ) -> Vec<Key> {
        let version = self.bump_version();
        let mut evicted = self.ensure(key);
        let e = self.entries.get_mut(key).expect("ensured");
        let old = std::mem::replace(&mut e.bytes, size);
        e.data = Some(data);
        e.error = None;
        e.updated_at = Some(now);
        e.ttl_ms = ttl_ms;
        e.etag = etag;
        e.version = version;
        e.invalidated = false;
        e.shown_only = false;
        self.bytes = self.bytes - old + size;
        evicted.extend(self.evict_bytes(key));
        evicted
    }

    /// Show `data` to `key`'s listeners without keeping it: whatever the
    /// entry kept before is dropped (it is older than this answer).
    pub fn show(&mut self, key: &Key, data: B) -> Vec<Key> {
        let version = self.bump_version();
        let evicted = self.ensure(key);
        let e = self.entries.get_mut(key).expect("ensured");
        self.bytes -= std::mem::take(&mut e.bytes);
        e.data = Some(data);
        e.error = None;
        e.updated_at = None;
        e.etag = None;
        e.version = version;
        e.invalidated = false;
        e.shown_only = true;
        evicted
    }

    /// Evict the least recently used entries other than `keep` until the
    /// kept bodies fit in `max_bytes`.
    fn evict_bytes(&mut self, keep: &Key) -> Vec<Key> {
        let mut evicted = Vec::new();
        while self.bytes > self.max_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .filter(|(k, e)| e.bytes > 0 && *k != keep)
                .min_by_key(|(_, e)| e.tick)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }

    /// Refresh an entry's age without a new body (an HTTP 304).
    pub fn refresh(&mut self, key: &Key, now: u64, ttl_ms: u64) -> bool {
        let version = self.bump_version();
        match self.entries.get_mut(key) {
            Some(e) if e.data.is_some() => {
                e.updated_at = Some(now);
                e.ttl_ms = ttl_ms;
                e.error = None;
                e.version = version;
                e.invalidated = false;
                true
            }
            _ => false,
        }
    }

    /// Record a failed attempt for subscribers. Keeps any earlier data.
    pub fn put_error(&mut self, key: &Key, error: FetchError) -> Vec<Key> {
        let version = self.bump_version();
        let evicted = self.ensure(key);
        let e = self.entries.get_mut(key).expect("ensured");
        e.error = Some(error);
        e.version = version;
        evicted
    }

    /// Make `key`'s data stale at once, keeping it for subscribers.
    pub fn expire(&mut self, key: &Key) -> bool {
        let version = self.bump_version();
        match self.entries.get_mut(key) {
            Some(e) => {
                e.invalidated = true;
                e.version = version;
                true
            }
            None => false,
        }
    }

    /// Remove one entry.
    pub fn remove(&mut self, key: &Key) -> Option<Entry<B>> {
        let e = self.entries.remove(key)?;
        self.bytes -= e.bytes;
        Some(e)
    }

    /// Remove every entry; returns their keys.
    pub fn clear(&mut self) -> Vec<Key> {
        self.bytes = 0;
        self.entries.drain().map(|(k, _)| k).collect()
    }

    /// Keys whose URL falls under `prefix` (see [`Key::url_under`]).
    pub fn keys_under(&self, prefix: &str) -> Vec<Key> {
        self.entries
            .keys()
            .filter(|k| k.url_under(prefix))
            .cloned()
            .collect()
    }

    /// Insert an empty entry for `key` if there is none, mark it most
    /// recently used, and evict the oldest entries beyond the bound.
    fn ensure(&mut self, key: &Key) -> Vec<Key> {
        if self.touch(key).is_some() {
            return Vec::new();
        }
        let tick = self.bump_tick();
        self.entries.insert(
            key.clone(),
            Entry {
                data: None,
                error: None,
                updated_at: None,
                ttl_ms: 0,
                etag: None,
                version: 0,
                invalidated: false,
                bytes: 0,
                shown_only: false,
                tick,
            },
        );
        let mut evicted = Vec::new();
        while self.entries.len() > self.max_entries {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.tick)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }

    fn bump_tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn bump_version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::key::Identity;

    fn k(n: u32) -> Key {
        Key::get(&format!("http://h.test/{n}"), &Identity::default())
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = Cache::new(2, usize::MAX);
        assert!(c.put_data(&k(1), "a", 1, 0, 10, None).is_empty());
        assert!(c.put_data(&k(2), "b", 1, 0, 10, None).is_empty());
        c.touch(&k(1));
        assert_eq!(c.put_data(&k(3), "c", 1, 0, 10, None), vec![k(2)]);
        assert!(c.peek(&k(1)).is_some() && c.peek(&k(3)).is_some());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn freshness_follows_ttl() {
        let mut c = Cache::new(4, usize::MAX);
        c.put_data(&k(1), 1, 1, 100, 50, Some("e".into()));
        let e = c.peek(&k(1)).unwrap();
        assert!(e.is_fresh(149, 50));
        assert!(!e.is_fresh(150, 50));
        assert!(e.is_fresh(200, 1000), "a caller may accept older data");
        assert!(!e.is_stale(149) && e.is_stale(150));
        assert!(c.refresh(&k(1), 300, 50));
        assert!(c.peek(&k(1)).unwrap().is_fresh(320, 50));
        assert!(c.expire(&k(1)));
        assert!(c.peek(&k(1)).unwrap().is_stale(320));
    }

    #[test]
    fn errors_keep_old_data_and_versions_move() {
        let mut c = Cache::new(4, usize::MAX);
        c.put_data(&k(1), 1, 1, 0, 50, None);
        let v1 = c.peek(&k(1)).unwrap().version;
        c.put_error(&k(1), FetchError::Network("down".into()));
        let e = c.peek(&k(1)).unwrap();
        assert_eq!(e.data, Some(1));
        assert!(e.error.is_some());
        assert!(e.version > v1);
        c.put_error(&k(2), FetchError::Timeout { ms: 5 });
        assert!(!c.peek(&k(2)).unwrap().is_fresh(0, 1000));
    }

    #[test]
    fn kept_bytes_stay_under_the_bound() {
        let mut c = Cache::new(100, 10_000);
        for i in 0..5 {
            c.put_data(&k(i), i, 3_000, 0, 10, None);
        }
        assert_eq!(c.len(), 3, "three bodies of 3,000 bytes fit in 10,000");
        assert_eq!(c.bytes(), 9_000);
        assert!((2..5).all(|i| c.peek(&k(i)).is_some()));
        c.put_data(&k(4), 4, 10, 0, 10, None);
        assert_eq!(c.bytes(), 6_010, "a replaced body's bytes are released");
        c.remove(&k(4));
        assert_eq!(c.bytes(), 6_000);
        c.clear();
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn shown_data_is_never_kept_or_fresh() {
        let mut c = Cache::new(4, 10_000);
        c.put_data(&k(1), 1, 500, 0, 1_000, Some("e".into()));
        c.show(&k(1), 2);
        let e = c.peek(&k(1)).unwrap();
        assert_eq!(e.data, Some(2));
        assert!(e.shown_only && e.etag.is_none() && e.updated_at.is_none());
        assert!(!e.is_fresh(0, 1_000_000));
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn stays_bounded() {
        let mut c = Cache::new(100, usize::MAX);
        for i in 0..10_000 {
            c.put_data(&k(i), i, 1, 0, 10, None);
        }
        assert_eq!(c.len(), 100);
        assert!((9_900..10_000).all(|i| c.peek(&k(i)).is_some()));
    }
}
