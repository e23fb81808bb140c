//! Shared by the engine tests: the bundled capture, a classic pcap reader,
//! and the loader the examples need.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use visor_vm::engine::{Engine, Loader};
use visor_vm::{HelperOutcome, Helpers, RegionId, TraceBuffer};

/// Trace lines of the examples' runs.
pub static TRACE: std::sync::LazyLock<TraceBuffer> = std::sync::LazyLock::new(TraceBuffer::new);

/// The repository's `examples/` directory.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Frames of a classic pcap file with Ethernet link type, or why not.
pub fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header = bytes.get(..24).ok_or("shorter than a pcap header")?;
    let magic = u32::from_le_bytes(header[..4].try_into().unwrap());
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return Err("not a classic pcap file (pcapng?)".into()),
    };
    let word = |b: &[u8]| {
        let b: [u8; 4] = b.try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    if word(&header[20..24]) & 0xffff != 1 {
        return Err(format!(
            "link type {} is not Ethernet",
            word(&header[20..24])
        ));
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while let Some(record) = bytes.get(at..at + 16) {
        let len = word(&record[8..12]) as usize;
        let frame = bytes
            .get(at + 16..at + 16 + len)
            .ok_or("truncated record")?;
        frames.push(frame.to_vec());
        at += 16 + len;
    }
    Ok(frames)
}

/// The helpers the examples call that the standard set may not have
/// yet: stand-ins for `skb_store_bytes` (9) and `l3_csum_replace` (10),
/// registered only where the loader left the ids free.
pub fn with_stand_ins(mut helpers: Helpers) -> Helpers {
    if helpers.name(9).is_none() {
        helpers.register(9, "skb_store_bytes (test stand-in)", |args, memory| {
            let [_, offset, from, len, _] = args;
            let data = memory.bytes(from, len as usize)?.into_owned();
            let r0 = match memory.write(RegionId::PACKET.addr(offset as u32), &data) {
                Ok(()) => 0,
                Err(_) => (-14i64) as u64,
            };
            Ok(HelperOutcome::Return(r0))
        });
    }
    if helpers.name(10).is_none() {
        helpers.register(10, "l3_csum_replace (test stand-in)", |args, memory| {
            let [_, offset, from, to, size] = args;
            if size != 2 {
                return Ok(HelperOutcome::Return((-22i64) as u64));
            }
            let at = RegionId::PACKET.addr(offset as u32);
            let Ok(old) = memory
                .bytes(at, 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
            else {
                return Ok(HelperOutcome::Return((-14i64) as u64));
            };
            // RFC 1624: HC' = ~(~HC + ~m + m'), words as the packet holds them.
            let (m, m2) = (
                u16::from_be_bytes((from as u16).to_le_bytes()),
                u16::from_be_bytes((to as u16).to_le_bytes()),
            );
            let mut sum = u32::from(!old) + u32::from(!m) + u32::from(m2);
            while sum >> 16 != 0 {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            memory.write(at, &(!(sum as u16)).to_be_bytes())?;
            Ok(HelperOutcome::Return(0))
        });
    }
    helpers
}

/// Loads an example object with the standard helpers plus stand-ins.
pub fn load_example(name: &str) -> Engine {
    let bytes = std::fs::read(examples().join(name)).unwrap();
    let object = visor_object::Object::parse(&bytes).unwrap();
    let env = visor_vm::HelperEnv::default().with_trace(TRACE.clone());
    Loader::new()
        .helpers(move |_| with_stand_ins(visor_vm::engine::standard_helpers(&env)))
        .load(&object)
        .unwrap()
}
