//! Each map type's semantics through `MapOps`, error cases included.

use std::sync::Arc;

use super::*;

fn map(kind: MapKind, key: u32, value: u32, entries: u32) -> Map {
    Map::new(MapDef::new(kind, key, value, entries)).unwrap()
}

fn k(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

fn keys(map: &Map) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut key = None;
    while let Some(next) = map.next_key(key.as_deref()).unwrap() {
        out.push(next.clone());
        key = Some(next);
    }
    out
}

#[test]
fn hash_create_replace_delete_and_iterate() {
    let hash = map(MapKind::Hash, 4, 8, 2);
    assert_eq!(hash.lookup(&k(1)), Ok(None));
    hash.update(&k(1), &[1; 8], UpdateMode::NoExist).unwrap();
    assert_eq!(
        hash.update(&k(1), &[2; 8], UpdateMode::NoExist),
        Err(MapError::Exists)
    );
    assert_eq!(
        hash.update(&k(9), &[2; 8], UpdateMode::Exist),
        Err(MapError::NotFound)
    );
    hash.update(&k(1), &[2; 8], UpdateMode::Exist).unwrap();
    assert_eq!(hash.lookup(&k(1)), Ok(Some(vec![2; 8])));
    hash.update(&k(2), &[3; 8], UpdateMode::Any).unwrap();
    let full = hash.update(&k(3), &[4; 8], UpdateMode::Any).unwrap_err();
    assert_eq!(
        (full.clone(), full.errno()),
        (MapError::Full { max_entries: 2 }, 7)
    );
    hash.update(&k(2), &[5; 8], UpdateMode::Any).unwrap(); // replacing needs no room
    assert_eq!(keys(&hash), [k(1).to_vec(), k(2).to_vec()]);
    assert_eq!(
        hash.next_key(Some(&k(7))),
        Ok(Some(k(1).to_vec())),
        "missing: first"
    );
    assert_eq!(hash.delete(&k(1)), Ok(()));
    assert_eq!(hash.delete(&k(1)).unwrap_err().errno(), 2);
    assert_eq!(hash.lookup_and_delete(&k(2)), Ok(Some(vec![5; 8])));
    assert_eq!(hash.next_key(None), Ok(None));
    assert_eq!(
        hash.lookup(&[1, 2]),
        Err(MapError::KeySize {
            size: 2,
            expected: 4
        })
    );
    assert_eq!(
        hash.update(&k(1), &[0; 4], UpdateMode::Any),
        Err(MapError::ValueSize {
            size: 4,
            expected: 8
        })
    );
}

#[test]
fn hash_is_safe_to_update_from_many_threads() {
    let hash = Arc::new(map(MapKind::Hash, 4, 8, 1024));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    let key = k(t * 1000 + i);
                    hash.update(&key, &u64::from(i).to_le_bytes(), UpdateMode::Any)
                        .unwrap();
                    assert_eq!(
                        hash.lookup(&key).unwrap(),
                        Some(u64::from(i).to_le_bytes().to_vec())
                    );
                    if i % 2 == 0 {
                        hash.delete(&key).unwrap();
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(hash.entry_count(), Some(400));
    assert_eq!(keys(&hash).len(), 400);
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let lru = map(MapKind::LruHash, 4, 4, 2);
    lru.update(&k(1), &k(10), UpdateMode::Any).unwrap();
    lru.update(&k(2), &k(20), UpdateMode::Any).unwrap();
    lru.lookup(&k(1)).unwrap(); // 2 is now the oldest
    lru.update(&k(3), &k(30), UpdateMode::Any).unwrap();
    assert_eq!(lru.lookup(&k(2)), Ok(None));
    assert_eq!(lru.lookup(&k(1)), Ok(Some(k(10).to_vec())));
    assert_eq!(lru.lookup(&k(3)), Ok(Some(k(30).to_vec())));
}

#[test]
fn percpu_values_are_padded_per_cpu_for_userspace() {
    let def = MapDef::new(MapKind::PercpuHash, 4, 4, 4);
    let hash = Map::with_cpus(def, 3).unwrap();
    assert_eq!(hash.value_len(), 24);
    let value: Vec<u8> = (0..24).collect();
    hash.update(&k(1), &value, UpdateMode::Any).unwrap();
    let mut expected = value.clone();
    for cpu in 0..3 {
        expected[cpu * 8 + 4..cpu * 8 + 8].fill(0); // padding reads as zero
    }
    assert_eq!(hash.lookup(&k(1)), Ok(Some(expected)));
    let array = Map::with_cpus(MapDef::new(MapKind::PercpuArray, 4, 8, 2), 2).unwrap();
    assert_eq!(array.lookup(&k(1)), Ok(Some(vec![0; 16])));
    assert_eq!(
        array.update(&k(1), &[0; 8], UpdateMode::Any),
        Err(MapError::ValueSize {
            size: 8,
            expected: 16
        })
    );
}

#[test]
fn array_has_every_index_and_deletes_none() {
    let array = map(MapKind::Array, 4, 4, 3);
    assert_eq!(array.lookup(&k(2)), Ok(Some(vec![0; 4])));
    assert_eq!(array.lookup(&k(3)), Ok(None));
    array.update(&k(2), &k(7), UpdateMode::Exist).unwrap();
    assert_eq!(
        array.update(&k(2), &k(7), UpdateMode::NoExist),
        Err(MapError::Exists)
    );
    let past = array.update(&k(3), &k(7), UpdateMode::Any).unwrap_err();
    assert_eq!(past.errno(), 7);
    assert_eq!(array.delete(&k(0)).unwrap_err().errno(), 22);
    assert_eq!(keys(&array), [k(0).to_vec(), k(1).to_vec(), k(2).to_vec()]);
    assert_eq!(array.next_key(Some(&k(99))), Ok(Some(k(0).to_vec())));
}

fn lpm_key(prefixlen: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut key = prefixlen.to_ne_bytes().to_vec();
    key.extend(addr);
    key
}

#[test]
fn lpm_matches_the_longest_prefix() {
    let def = MapDef::new(MapKind::LpmTrie, 8, 1, 3).with_flags(flags::NO_PREALLOC);
    let trie = Map::new(def).unwrap();
    trie.update(&lpm_key(8, [10, 0, 0, 0]), &[8], UpdateMode::Any)
        .unwrap();
    trie.update(&lpm_key(16, [10, 1, 0, 0]), &[16], UpdateMode::Any)
        .unwrap();
    trie.update(&lpm_key(0, [0; 4]), &[0], UpdateMode::Any)
        .unwrap();
    let full = trie.update(&lpm_key(24, [10, 1, 2, 0]), &[24], UpdateMode::Any);
    assert_eq!(full.unwrap_err().errno(), 28);
    assert_eq!(trie.lookup(&lpm_key(32, [10, 1, 2, 3])), Ok(Some(vec![16])));
    assert_eq!(trie.lookup(&lpm_key(32, [10, 2, 2, 3])), Ok(Some(vec![8])));
    assert_eq!(trie.lookup(&lpm_key(32, [11, 2, 2, 3])), Ok(Some(vec![0])));
    assert_eq!(
        trie.lookup(&lpm_key(12, [10, 1, 2, 3])),
        Ok(Some(vec![8])),
        "limited by the key's length"
    );
    assert_eq!(
        trie.update(&lpm_key(33, [0; 4]), &[1], UpdateMode::Any),
        Err(MapError::PrefixTooLong {
            prefixlen: 33,
            max: 32
        })
    );
    // Post-order: the more specific 10.1/16 before 10/8, both before /0.
    assert_eq!(
        keys(&trie),
        [
            lpm_key(16, [10, 1, 0, 0]),
            lpm_key(8, [10, 0, 0, 0]),
            lpm_key(0, [0; 4])
        ]
    );
    assert_eq!(
        trie.delete(&lpm_key(16, [10, 1, 9, 9])),
        Ok(()),
        "bits past the prefix do not count"
    );
    assert_eq!(
        trie.delete(&lpm_key(16, [10, 1, 0, 0])),
        Err(MapError::NotFound)
    );
}

#[test]
fn queue_is_fifo_and_stack_is_lifo() {
    for (kind, first_out) in [(MapKind::Queue, 1u8), (MapKind::Stack, 2)] {
        let q = map(kind, 0, 1, 2);
        q.update(&[], &[1], UpdateMode::Any).unwrap();
        q.update(&[], &[2], UpdateMode::Any).unwrap();
        assert_eq!(q.update(&[], &[3], UpdateMode::Any).unwrap_err().errno(), 7);
        assert_eq!(q.lookup(&[]), Ok(Some(vec![first_out])), "{kind}: peek");
        assert_eq!(
            q.lookup_and_delete(&[]),
            Ok(Some(vec![first_out])),
            "{kind}: pop"
        );
        q.update(&[], &[3], UpdateMode::Any).unwrap();
        q.update(&[], &[4], UpdateMode::Exist).unwrap(); // drops the oldest
        assert_eq!(q.entry_count(), Some(2));
        assert_eq!(q.delete(&[]).unwrap_err().errno(), 22);
        assert_eq!(q.next_key(None).unwrap_err().errno(), 22);
        assert_eq!(
            q.update(&[], &[5], UpdateMode::NoExist)
                .unwrap_err()
                .errno(),
            22
        );
        q.lookup_and_delete(&[]).unwrap();
        q.lookup_and_delete(&[]).unwrap();
        assert_eq!(q.lookup_and_delete(&[]), Ok(None));
    }
}

#[test]
fn ringbuf_and_fd_arrays_refuse_what_the_kernel_refuses() {
    let ring = map(MapKind::RingBuf, 0, 0, PAGE_SIZE);
    assert_eq!(ring.lookup(&[]).unwrap_err().errno(), 524);
    assert_eq!(ring.next_key(None).unwrap_err().errno(), 524);
    let perf = map(MapKind::PerfEventArray, 4, 4, 2);
    assert_eq!(perf.lookup(&k(0)).unwrap_err().errno(), 524);
    perf.update(&k(1), &k(0), UpdateMode::Any).unwrap();
    assert!(perf.as_perf_event_array().unwrap().is_open(1));
    assert_eq!(perf.delete(&k(0)), Err(MapError::NotFound));
    let progs = map(MapKind::ProgArray, 4, 4, 2);
    assert_eq!(progs.lookup(&k(0)), Ok(None));
    assert_eq!(
        progs
            .update(&k(0), &k(3), UpdateMode::Any)
            .unwrap_err()
            .errno(),
        22
    );
    assert_eq!(keys(&progs).len(), 2);
}

#[test]
fn map_in_map_checks_inner_maps_against_the_template() {
    let inner = MapDef::new(MapKind::Array, 4, 4, 1);
    let outer =
        Map::new(MapDef::new(MapKind::HashOfMaps, 4, 4, 1).with_inner(inner.clone())).unwrap();
    let good = Arc::new(Map::new(inner).unwrap());
    let bad = Arc::new(map(MapKind::Array, 4, 8, 1));
    assert!(matches!(
        outer.set_inner(&k(1), bad, UpdateMode::Any),
        Err(MapError::WrongMap { .. })
    ));
    outer
        .set_inner(&k(1), good.clone(), UpdateMode::Any)
        .unwrap();
    assert_eq!(
        outer.lookup(&k(1)),
        Ok(Some(good.id().to_le_bytes().to_vec()))
    );
    let other = Arc::new(Map::new(good.def().clone()).unwrap());
    assert_eq!(
        outer
            .set_inner(&k(2), other, UpdateMode::Any)
            .unwrap_err()
            .errno(),
        7
    );
    assert_eq!(outer.delete(&k(1)), Ok(()));
}
