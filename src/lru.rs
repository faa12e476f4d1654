//! A bounded least-recently-used map from strings, O(1) per operation: entries live in a slab
//! linked most-recent first, and a hash map finds them by their whole key (full bytes are
//! compared on every lookup, never a bare hash).

use std::collections::HashMap;
use std::rc::Rc;

const NONE: usize = usize::MAX;

struct Slot<V> {
    key: Rc<str>,
    value: V,
    newer: usize,
    older: usize,
}

pub struct Lru<V> {
    capacity: usize,
    index: HashMap<Rc<str>, usize>,
    slots: Vec<Slot<V>>,
    newest: usize,
    oldest: usize,
}

impl<V> Lru<V> {
    /// A map that holds at most `capacity` entries; 0 holds none.
    pub fn new(capacity: usize) -> Lru<V> {
        Lru {
            capacity,
            index: HashMap::new(),
            slots: Vec::new(),
            newest: NONE,
            oldest: NONE,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value for `key`, which becomes the most recently used.
    pub fn get(&mut self, key: &str) -> Option<&V> {
        let slot = *self.index.get(key)?;
        self.unlink(slot);
        self.push_newest(slot);
        self.slots.get(slot).map(|s| &s.value)
    }

    /// Inserts or replaces; when full, the least recently used entry goes.
    pub fn insert(&mut self, key: &str, value: V) {
        if self.capacity == 0 {
            return;
        }
        if let Some(&slot) = self.index.get(key) {
            self.unlink(slot);
            self.push_newest(slot);
            if let Some(s) = self.slots.get_mut(slot) {
                s.value = value;
            }
            return;
        }
        let key: Rc<str> = Rc::from(key);
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key: key.clone(),
                value,
                newer: NONE,
                older: NONE,
            });
            self.slots.len() - 1
        } else {
            let victim = self.oldest;
            self.unlink(victim);
            let Some(s) = self.slots.get_mut(victim) else {
                return;
            };
            self.index.remove(&s.key);
            s.key = key.clone();
            s.value = value;
            victim
        };
        self.index.insert(key, slot);
        self.push_newest(slot);
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = match self.slots.get(slot) {
            Some(s) => (s.newer, s.older),
            None => return,
        };
        match self.slots.get_mut(newer) {
            Some(s) => s.older = older,
            None => self.newest = older,
        }
        match self.slots.get_mut(older) {
            Some(s) => s.newer = newer,
            None => self.oldest = newer,
        }
    }

    fn push_newest(&mut self, slot: usize) {
        let previous = self.newest;
        if let Some(s) = self.slots.get_mut(slot) {
            s.newer = NONE;
            s.older = previous;
        }
        match self.slots.get_mut(previous) {
            Some(s) => s.newer = slot,
            None => self.oldest = slot,
        }
        self.newest = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<V>(lru: &Lru<V>) -> Vec<String> {
        // Newest first, by walking the list.
        let mut out = Vec::new();
        let mut slot = lru.newest;
        while let Some(s) = lru.slots.get(slot) {
            out.push(s.key.to_string());
            slot = s.older;
        }
        out
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(3);
        for key in ["a", "b", "c"] {
            lru.insert(key, key.len());
        }
        assert_eq!(keys(&lru), ["c", "b", "a"]);
        assert!(lru.get("a").is_some());
        lru.insert("d", 1);
        assert_eq!(keys(&lru), ["d", "a", "c"]);
        assert!(lru.get("b").is_none());
        assert_eq!(lru.len(), 3);
    }

    #[test]
    fn replacing_keeps_one_entry() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        lru.insert("a", 3);
        assert_eq!(lru.get("a"), Some(&3));
        assert_eq!(keys(&lru), ["a", "b"]);
        lru.insert("c", 4);
        assert_eq!(keys(&lru), ["c", "a"]);
    }

    #[test]
    fn holds_nothing_at_capacity_zero_and_one_at_one() {
        let mut none = Lru::new(0);
        none.insert("a", 1);
        assert!(none.get("a").is_none() && none.is_empty());
        let mut one = Lru::new(1);
        one.insert("a", 1);
        one.insert("b", 2);
        assert!(one.get("a").is_none());
        assert_eq!(one.get("b"), Some(&2));
        assert_eq!(keys(&one), ["b"]);
    }

    #[test]
    fn survives_a_long_random_walk() {
        let mut lru = Lru::new(8);
        let mut model: Vec<(String, u32)> = Vec::new();
        let mut seed = 7u32;
        for step in 0..5000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let key = format!("k{}", (seed >> 16) % 13);
            if seed.is_multiple_of(3) {
                let expected = model.iter().position(|(k, _)| *k == key);
                assert_eq!(lru.get(&key).copied(), expected.map(|i| model[i].1));
                if let Some(i) = expected {
                    let entry = model.remove(i);
                    model.insert(0, entry);
                }
            } else {
                lru.insert(&key, step);
                model.retain(|(k, _)| *k != key);
                model.insert(0, (key, step));
                model.truncate(8);
            }
            assert_eq!(
                keys(&lru),
                model.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
            );
        }
    }
}
