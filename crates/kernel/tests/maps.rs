//! Maps created in the running kernel: element operations, batches, pins
//! and descriptions.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{bpf_available, chain, is_unsupported};
use visor_kernel::{
    Buffer, KernelError, MapFd, MapSpec, MapType, UpdateMode, ensure_bpffs, map_flags,
    possible_cpus,
};

fn create(spec: MapSpec<'_>) -> MapFd {
    MapFd::create(&spec).unwrap_or_else(|e| panic!("{}", chain(&e)))
}

fn k(n: u32) -> [u8; 4] {
    n.to_ne_bytes()
}

fn v(n: u64) -> [u8; 8] {
    n.to_ne_bytes()
}

/// Update, lookup, overwrite rules, next_key and delete on a keyed map.
fn exercise_keyed(map: &MapFd, value_len: usize) {
    let value = |n: u8| vec![n; value_len];
    assert_eq!(map.lookup(&k(1)).unwrap(), None);
    map.update(&k(1), &value(1), UpdateMode::NoExist).unwrap();
    map.update(&k(2), &value(2), UpdateMode::Any).unwrap();
    assert_eq!(map.lookup(&k(1)).unwrap(), Some(value(1)));
    let exists = map
        .update(&k(1), &value(9), UpdateMode::NoExist)
        .unwrap_err();
    assert_eq!(exists.errno(), Some(libc::EEXIST), "{}", chain(&exists));
    let absent = map.update(&k(3), &value(3), UpdateMode::Exist).unwrap_err();
    assert_eq!(absent.errno(), Some(libc::ENOENT), "{}", chain(&absent));
    map.update(&k(1), &value(7), UpdateMode::Exist).unwrap();
    assert_eq!(map.lookup(&k(1)).unwrap(), Some(value(7)));
    let keys: BTreeSet<Vec<u8>> = map.keys().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, BTreeSet::from([k(1).to_vec(), k(2).to_vec()]));
    assert!(map.delete(&k(1)).unwrap());
    assert!(!map.delete(&k(1)).unwrap());
    assert_eq!(map.next_key(None).unwrap(), Some(k(2).to_vec()));
    assert_eq!(map.next_key(Some(&k(2))).unwrap(), None);
}

#[test]
fn hash_maps_of_every_flavour() {
    if !bpf_available("hash_maps_of_every_flavour") {
        return;
    }
    let cpus = possible_cpus().unwrap();
    println!("possible CPUs: {cpus}");
    for (map_type, flags) in [
        (MapType::Hash, 0),
        (MapType::Hash, map_flags::NO_PREALLOC),
        (MapType::LruHash, 0),
        (MapType::PercpuHash, 0),
        (MapType::LruPercpuHash, 0),
    ] {
        let mut spec = MapSpec::new(map_type, 4, 8, 16).named("h");
        spec.flags = flags;
        let map = create(spec);
        let expected = if map_type.is_per_cpu() { 8 * cpus } else { 8 };
        assert_eq!(map.value_len(), expected, "{map_type}");
        exercise_keyed(&map, map.value_len());
        let info = map.info().unwrap();
        assert_eq!(info.map_type(), Some(map_type));
        assert_eq!(
            (info.key_size, info.value_size, info.max_entries),
            (4, 8, 16)
        );
        assert_eq!(info.flags, flags);
        assert_eq!(info.name, "h");
    }
}

#[test]
fn arrays_have_every_key() {
    if !bpf_available("arrays_have_every_key") {
        return;
    }
    let cpus = possible_cpus().unwrap();
    for map_type in [MapType::Array, MapType::PercpuArray] {
        let map = create(MapSpec::new(map_type, 4, 12, 3).named("arr"));
        let len = map.value_len();
        assert_eq!(len, if map_type.is_per_cpu() { 16 * cpus } else { 12 });
        assert_eq!(map.lookup(&k(2)).unwrap(), Some(vec![0; len]));
        assert_eq!(map.lookup(&k(3)).unwrap(), None, "past max_entries");
        map.update(&k(2), &vec![5; len], UpdateMode::Exist).unwrap();
        // Per-CPU slots are 12 bytes padded to 16, and the kernel stores
        // and returns all 16 per CPU (found by running: the padding
        // round-trips), so what was written comes back whole.
        let expected = vec![5; len];
        assert_eq!(map.lookup(&k(2)).unwrap(), Some(expected));
        let no = map
            .update(&k(0), &vec![1; len], UpdateMode::NoExist)
            .unwrap_err();
        assert_eq!(no.errno(), Some(libc::EEXIST));
        let del = map.delete(&k(0)).unwrap_err();
        assert_eq!(del.errno(), Some(libc::EINVAL), "arrays cannot delete");
        let keys: Vec<Vec<u8>> = map.keys().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys, vec![k(0).to_vec(), k(1).to_vec(), k(2).to_vec()]);
    }
}

#[test]
fn sizes_are_checked_before_the_kernel_sees_them() {
    if !bpf_available("sizes_are_checked_before_the_kernel_sees_them") {
        return;
    }
    let map = create(MapSpec::new(MapType::Hash, 4, 8, 4).named("sized"));
    let err = map.lookup(&[1, 2]).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::BufferSize {
                what: Buffer::Key,
                expected: 4,
                got: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "map `sized` takes keys of 4 bytes, got 2");
    let err = map.update(&k(1), &[0; 7], UpdateMode::Any).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::BufferSize {
                what: Buffer::Value,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn queues_stacks_and_lpm_tries() {
    if !bpf_available("queues_stacks_and_lpm_tries") {
        return;
    }
    let queue = create(MapSpec::new(MapType::Queue, 0, 8, 4).named("q"));
    for n in 1..=3 {
        queue.update(&[], &v(n), UpdateMode::Any).unwrap();
    }
    assert_eq!(queue.lookup(&[]).unwrap(), Some(v(1).to_vec()), "peek");
    assert_eq!(queue.lookup_and_delete(&[]).unwrap(), Some(v(1).to_vec()));
    assert_eq!(queue.lookup_and_delete(&[]).unwrap(), Some(v(2).to_vec()));
    let stack = create(MapSpec::new(MapType::Stack, 0, 8, 4).named("s"));
    for n in 1..=3 {
        stack.update(&[], &v(n), UpdateMode::Any).unwrap();
    }
    assert_eq!(stack.lookup_and_delete(&[]).unwrap(), Some(v(3).to_vec()));
    assert_eq!(stack.lookup_and_delete(&[]).unwrap(), Some(v(2).to_vec()));
    assert_eq!(stack.lookup_and_delete(&[]).unwrap(), Some(v(1).to_vec()));
    assert_eq!(stack.lookup_and_delete(&[]).unwrap(), None);

    // LPM trie: key = prefix length (u32, host order) + IPv4 address.
    let mut spec = MapSpec::new(MapType::LpmTrie, 8, 4, 16).named("routes");
    spec.flags = map_flags::NO_PREALLOC;
    let trie = create(spec);
    let key = |len: u32, ip: [u8; 4]| [len.to_ne_bytes(), ip].concat();
    trie.update(&key(8, [10, 0, 0, 0]), &k(8), UpdateMode::Any)
        .unwrap();
    trie.update(&key(24, [10, 1, 2, 0]), &k(24), UpdateMode::Any)
        .unwrap();
    assert_eq!(
        trie.lookup(&key(32, [10, 1, 2, 3])).unwrap(),
        Some(k(24).to_vec())
    );
    assert_eq!(
        trie.lookup(&key(32, [10, 9, 9, 9])).unwrap(),
        Some(k(8).to_vec())
    );
    assert_eq!(trie.lookup(&key(32, [11, 0, 0, 1])).unwrap(), None);
    assert_eq!(trie.keys().count(), 2);
}

#[test]
fn ring_buffers_and_bloom_filters_are_created() {
    if !bpf_available("ring_buffers_and_bloom_filters_are_created") {
        return;
    }
    let ring = create(MapSpec::new(MapType::Ringbuf, 0, 0, 4096).named("events"));
    assert_eq!(ring.info().unwrap().map_type(), Some(MapType::Ringbuf));
    let mut spec = MapSpec::new(MapType::BloomFilter, 0, 4, 100).named("seen");
    spec.map_extra = 3; // hash functions
    match MapFd::create(&spec) {
        Ok(bloom) => {
            bloom.update(&[], &k(42), UpdateMode::Any).unwrap();
            // A bloom filter's lookup answers "maybe present" with the value.
            let mut value = k(42);
            assert!(bloom.lookup_into(&[], &mut value).unwrap());
            let info = bloom.info().unwrap();
            assert_eq!(info.map_extra, 3);
        }
        Err(e) if is_unsupported(&e) => println!("skipped: bloom filter: {}", chain(&e)),
        Err(e) => panic!("{}", chain(&e)),
    }
}

#[test]
fn batches_read_write_and_delete_many_entries() {
    if !bpf_available("batches_read_write_and_delete_many_entries") {
        return;
    }
    for map_type in [MapType::Hash, MapType::Array] {
        let map = create(MapSpec::new(map_type, 4, 8, 64).named("batch"));
        let keys: Vec<u8> = (0..40u32).flat_map(k).collect();
        let values: Vec<u8> = (0..40u64).flat_map(|n| v(n * 10)).collect();
        let stored = map.update_batch(&keys, &values, UpdateMode::Any).unwrap();
        assert_eq!(stored, 40);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let batch = map.lookup_batch(cursor.as_ref(), 16).unwrap();
            for (key, value) in batch.iter() {
                let key = u32::from_ne_bytes(key.try_into().unwrap());
                let value = u64::from_ne_bytes(value.try_into().unwrap());
                seen.push((key, value));
            }
            match batch.next() {
                Some(next) => cursor = Some(next.clone()),
                None => break,
            }
        }
        seen.sort();
        let expected_len = if map_type == MapType::Array { 64 } else { 40 };
        assert_eq!(seen.len(), expected_len, "{map_type}");
        for (key, value) in seen.iter().take(40) {
            assert_eq!(*value, u64::from(*key) * 10, "{map_type}");
        }
        if map_type == MapType::Hash {
            let deleted = map.delete_batch(&keys[..10 * 4]).unwrap();
            assert_eq!(deleted, 10);
            assert_eq!(map.keys().count(), 30);
            let taken = map.lookup_and_delete_batch(None, 64).unwrap();
            assert_eq!(taken.len(), 30);
            assert_eq!(map.keys().count(), 0);
        }
    }
}

#[test]
fn a_pinned_map_comes_back() {
    if !bpf_available("a_pinned_map_comes_back") {
        return;
    }
    let bpffs = PathBuf::from(visor_kernel::BPFFS);
    if let Err(e) = ensure_bpffs(&bpffs) {
        println!("skipped: a_pinned_map_comes_back: {}", chain(&e));
        return;
    }
    let map = create(MapSpec::new(MapType::Hash, 4, 8, 8).named("pinned"));
    map.update(&k(7), &v(77), UpdateMode::Any).unwrap();
    let path = bpffs.join(format!("visor_test_map_{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    map.pin(&path).unwrap();
    let again = MapFd::from_pin(&path);
    visor_kernel::unpin(&path).unwrap();
    let again = again.unwrap();
    assert_eq!(again.name(), "pinned");
    assert_eq!(again.def(), map.def());
    assert_eq!(again.lookup(&k(7)).unwrap(), Some(v(77).to_vec()));
    assert_eq!(again.info().unwrap().id, map.info().unwrap().id);
    let gone = MapFd::from_pin(&path).unwrap_err();
    assert_eq!(gone.errno(), Some(libc::ENOENT), "{}", chain(&gone));
}

#[test]
fn maps_are_listed_and_opened_by_id() {
    if !bpf_available("maps_are_listed_and_opened_by_id") {
        return;
    }
    let map = create(MapSpec::new(MapType::Array, 4, 4, 2).named("listed"));
    let id = map.info().unwrap().id;
    let ids: Vec<u32> = visor_kernel::ids(visor_kernel::ObjectKind::Map)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(ids.contains(&id));
    let again = MapFd::from_id(id).unwrap();
    assert_eq!(again.name(), "listed");
    assert_eq!(again.map_type(), MapType::Array);
}

#[test]
fn invalid_names_are_refused_here() {
    let err = MapFd::create(&MapSpec::new(MapType::Array, 4, 4, 1).named("has space")).unwrap_err();
    assert!(matches!(err, KernelError::InvalidName { .. }), "{err:?}");
    let err = MapFd::create(&MapSpec::new(MapType::Array, 4, 4, 1).named("sixteen_chars_xx"))
        .unwrap_err();
    assert!(matches!(err, KernelError::InvalidName { .. }), "{err:?}");
}
