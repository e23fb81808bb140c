//! A minimal reader of classic pcap files (either byte order, micro- or
//! nanosecond timestamps), for the captures in `../shared/filters/pcaps`.

use std::path::PathBuf;

use crate::common::filters_dir;

/// The captured bytes of every record of every classic pcap file in
/// `pcaps/`, files in name order; pcapng files are skipped with a note.
pub fn capture_packets() -> Option<Vec<Vec<u8>>> {
    let dir = filters_dir().join("pcaps");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is missing (set VISOR_SHARED)", dir.display());
        return None;
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    let (mut files, mut packets) = (0, Vec::new());
    for path in paths {
        let bytes = std::fs::read(&path).expect("capture is readable");
        match read_pcap(&bytes) {
            Ok(records) => {
                files += 1;
                packets.extend(records);
            }
            Err(why) => eprintln!("note: {} skipped: {why}", path.display()),
        }
    }
    eprintln!("{} packets from {files} classic pcap files", packets.len());
    Some(packets)
}

/// Magic numbers of classic pcap, as read little-endian.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const MAGIC_PCAPNG: u32 = 0x0a0d_0d0a;
const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// Offset of `incl_len` in a record header.
const INCL_LEN: usize = 8;

/// The captured bytes of each record of a classic pcap file, either byte
/// order, microsecond or nanosecond timestamps.
pub fn read_pcap(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let word = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
    let magic = word(0).ok_or("shorter than a magic number")?;
    let big_endian = match u32::from_le_bytes(magic) {
        MAGIC_MICROS | MAGIC_NANOS => false,
        m if m.swap_bytes() == MAGIC_MICROS || m.swap_bytes() == MAGIC_NANOS => true,
        MAGIC_PCAPNG => return Err("pcapng, not classic pcap".into()),
        m => return Err(format!("unknown magic {m:#010x}")),
    };
    let read_u32 = |at: usize| {
        word(at).map(|w| {
            if big_endian {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        })
    };
    let mut packets = Vec::new();
    let mut at = FILE_HEADER_LEN;
    while at < bytes.len() {
        let len = read_u32(at + INCL_LEN).ok_or(format!("truncated record header at {at}"))?;
        let start = at + RECORD_HEADER_LEN;
        let end = start + len as usize;
        let data = bytes
            .get(start..end)
            .ok_or(format!("truncated record at {at}"))?;
        packets.push(data.to_vec());
        at = end;
    }
    Ok(packets)
}
