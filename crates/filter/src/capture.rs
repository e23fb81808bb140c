//! Reading capture files: classic pcap (either byte order, micro- or
//! nanosecond timestamps) and pcapng (section, interface, enhanced,
//! simple and obsolete packet blocks).
//!
//! [`Capture::parse`] checks the file header; iterating yields each
//! [`Record`] in order, then stops at the end or after the first error
//! ([`CaptureError`] names its byte offset), so every packet before a
//! corrupt or truncated part is still delivered. Nothing here panics on any
//! input: every read is bounds-checked.

use thiserror::Error;

/// One packet as captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Seconds since the epoch.
    pub ts_sec: u64,
    /// Nanoseconds within the second.
    pub ts_nsec: u32,
    /// The bytes captured.
    pub data: &'a [u8],
    /// The length on the wire.
    pub orig_len: u32,
    /// The link type (`DLT_`/`LINKTYPE_` number) of the packet.
    pub linktype: u32,
}

/// Why a capture cannot be read (further).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file (magic {magic:#010x})")]
    UnknownMagic { magic: u32 },
    #[error("file too short for a header ({len} bytes)")]
    TooShort { len: usize },
    #[error("unsupported pcap savefile version {major}.{minor}")]
    PcapVersion { major: u16, minor: u16 },
    #[error("savefile linktype reserved field not zero ({value:#010x})")]
    LinktypeReserved { value: u32 },
    #[error("unsupported pcapng savefile version {major}.{minor}")]
    PcapngVersion { major: u16, minor: u16 },
    #[error("truncated {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error(
        "block total length in header {header} and trailer {trailer} don't match (block at offset {offset})"
    )]
    LengthMismatch {
        header: u32,
        trailer: u32,
        offset: usize,
    },
    #[error("bad block length {len} at offset {offset}")]
    BadBlockLength { len: u32, offset: usize },
    #[error("packet at offset {offset} refers to interface {id}, which is not defined")]
    UnknownInterface { id: u32, offset: usize },
    #[error("bad pcapng byte-order magic {magic:#010x} at offset {offset}")]
    BadByteOrder { magic: u32, offset: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

fn u16_at(b: &[u8], at: usize, order: Order) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(match order {
        Order::Little => u16::from_le_bytes(s),
        Order::Big => u16::from_be_bytes(s),
    })
}

fn u32_at(b: &[u8], at: usize, order: Order) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match order {
        Order::Little => u32::from_le_bytes(s),
        Order::Big => u32::from_be_bytes(s),
    })
}

/// The file format and the state of the walk through it.
#[derive(Clone, Debug)]
enum Format {
    Pcap {
        order: Order,
        nanos: bool,
        linktype: u32,
    },
    Pcapng {
        order: Order,
        interfaces: Vec<Interface>,
    },
}

/// A pcapng interface: its link type and timestamp units per second.
#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    units: u64,
}

/// A capture file being read.
#[derive(Clone, Debug)]
pub struct Capture<'a> {
    bytes: &'a [u8],
    at: usize,
    format: Format,
    failed: bool,
}

const PCAP_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_NANOS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

impl<'a> Capture<'a> {
    /// Reads the file header.
    pub fn parse(bytes: &'a [u8]) -> Result<Capture<'a>, CaptureError> {
        let magic =
            u32_at(bytes, 0, Order::Little).ok_or(CaptureError::TooShort { len: bytes.len() })?;
        let pcap = |order: Order, nanos: bool| -> Result<Capture<'a>, CaptureError> {
            let too_short = CaptureError::TooShort { len: bytes.len() };
            let major = u16_at(bytes, 4, order).ok_or(too_short.clone())?;
            let minor = u16_at(bytes, 6, order).ok_or(too_short.clone())?;
            if major != 2 || minor > 4 {
                return Err(CaptureError::PcapVersion { major, minor });
            }
            let raw = u32_at(bytes, 20, order).ok_or(too_short)?;
            if raw & 0x03ff_0000 != 0 {
                return Err(CaptureError::LinktypeReserved {
                    value: raw & 0x03ff_0000,
                });
            }
            Ok(Capture {
                bytes,
                at: 24,
                format: Format::Pcap {
                    order,
                    nanos,
                    linktype: raw & 0xffff,
                },
                failed: false,
            })
        };
        match magic {
            PCAP_MICROS => pcap(Order::Little, false),
            PCAP_NANOS => pcap(Order::Little, true),
            m if m.swap_bytes() == PCAP_MICROS => pcap(Order::Big, false),
            m if m.swap_bytes() == PCAP_NANOS => pcap(Order::Big, true),
            PCAPNG_SHB => {
                let mut c = Capture {
                    bytes,
                    at: 0,
                    format: Format::Pcapng {
                        order: Order::Little,
                        interfaces: Vec::new(),
                    },
                    failed: false,
                };
                // Validate the first section header now.
                c.section_header(0)?;
                Ok(c)
            }
            magic => Err(CaptureError::UnknownMagic { magic }),
        }
    }

    /// The snapshot length: the file's (pcap) or the first interface's
    /// (pcapng); 262144 when the file says 0.
    pub fn snaplen(&self) -> u32 {
        let raw = match &self.format {
            Format::Pcap { order, .. } => u32_at(self.bytes, 16, *order).unwrap_or(0),
            Format::Pcapng { .. } => {
                let mut probe = self.clone();
                let mut found = 0;
                while let Some(Ok(())) = probe.next_block_interfaces_only() {
                    if let Format::Pcapng { interfaces, .. } = &probe.format
                        && let Some(i) = interfaces.first()
                    {
                        found = i.snaplen;
                        break;
                    }
                }
                found
            }
        };
        if raw == 0 { 262_144 } else { raw }
    }

    /// Whether the file's byte order differs from this host's.
    pub fn swapped(&self) -> bool {
        let order = match &self.format {
            Format::Pcap { order, .. } | Format::Pcapng { order, .. } => *order,
        };
        (order == Order::Big) == cfg!(target_endian = "little")
    }

    /// The link type of the first interface (pcapng) or the file (pcap).
    pub fn linktype(&self) -> Option<u32> {
        match &self.format {
            Format::Pcap { linktype, .. } => Some(*linktype),
            Format::Pcapng { .. } => {
                // Scan ahead for the first interface description.
                let mut probe = self.clone();
                while let Some(Ok(())) = probe.next_block_interfaces_only() {
                    if let Format::Pcapng { interfaces, .. } = &probe.format
                        && let Some(i) = interfaces.first()
                    {
                        return Some(i.linktype);
                    }
                }
                None
            }
        }
    }

    /// Reads a section header at `at`; sets the byte order.
    fn section_header(&mut self, at: usize) -> Result<usize, CaptureError> {
        let b = self.bytes;
        let bom_le = u32_at(b, at + 8, Order::Little).ok_or(CaptureError::Truncated {
            what: "section header block",
            offset: at,
        })?;
        let order = if bom_le == PCAPNG_BOM {
            Order::Little
        } else if bom_le.swap_bytes() == PCAPNG_BOM {
            Order::Big
        } else {
            return Err(CaptureError::BadByteOrder {
                magic: bom_le,
                offset: at,
            });
        };
        let truncated = CaptureError::Truncated {
            what: "section header block",
            offset: at,
        };
        let major = u16_at(b, at + 12, order).ok_or(truncated.clone())?;
        let minor = u16_at(b, at + 14, order).ok_or(truncated)?;
        if major != 1 || minor != 0 {
            return Err(CaptureError::PcapngVersion { major, minor });
        }
        let len = self.block_len(at, order)?;
        self.format = Format::Pcapng {
            order,
            interfaces: Vec::new(),
        };
        Ok(len)
    }

    /// The total length of the block at `at`, checked against its trailer.
    fn block_len(&self, at: usize, order: Order) -> Result<usize, CaptureError> {
        let b = self.bytes;
        let len = u32_at(b, at + 4, order).ok_or(CaptureError::Truncated {
            what: "block header",
            offset: at,
        })?;
        if len < 12 || len % 4 != 0 {
            return Err(CaptureError::BadBlockLength { len, offset: at });
        }
        let end = at
            .checked_add(len as usize)
            .ok_or(CaptureError::BadBlockLength { len, offset: at })?;
        let trailer = u32_at(b, end - 4, order).ok_or(CaptureError::Truncated {
            what: "block",
            offset: at,
        })?;
        if trailer != len {
            return Err(CaptureError::LengthMismatch {
                header: len,
                trailer,
                offset: at,
            });
        }
        Ok(len as usize)
    }

    fn next_block_interfaces_only(&mut self) -> Option<Result<(), CaptureError>> {
        if self.at >= self.bytes.len() || self.failed {
            return None;
        }
        match self.pcapng_block() {
            Ok(_) => Some(Ok(())),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// Reads the pcapng block at the cursor; a packet if it holds one.
    fn pcapng_block(&mut self) -> Result<Option<Record<'a>>, CaptureError> {
        let at = self.at;
        let Format::Pcapng { order, .. } = self.format else {
            return Ok(None);
        };
        let b = self.bytes;
        let kind = u32_at(b, at, order).ok_or(CaptureError::Truncated {
            what: "block header",
            offset: at,
        })?;
        if kind == PCAPNG_SHB {
            let len = self.section_header(at)?;
            self.at = at + len;
            return Ok(None);
        }
        let len = self.block_len(at, order)?;
        let body = &b[at + 8..at + len - 4];
        self.at = at + len;
        let Format::Pcapng { interfaces, .. } = &mut self.format else {
            return Ok(None);
        };
        let trunc = |what| CaptureError::Truncated { what, offset: at };
        match kind {
            1 => {
                let linktype = u32::from(u16_at(body, 0, order).ok_or(trunc("interface block"))?);
                let snaplen = u32_at(body, 4, order).ok_or(trunc("interface block"))?;
                let mut units = 1_000_000u64;
                let mut opt = 8;
                while let (Some(code), Some(olen)) =
                    (u16_at(body, opt, order), u16_at(body, opt + 2, order))
                {
                    if code == 0 {
                        break;
                    }
                    if code == 9
                        && let Some(&r) = body.get(opt + 4)
                    {
                        let exp = u32::from(r & 0x7f);
                        units = if r & 0x80 != 0 {
                            1u64.checked_shl(exp).unwrap_or(u64::MAX)
                        } else {
                            10u64.checked_pow(exp).unwrap_or(u64::MAX)
                        };
                    }
                    opt += 4 + usize::from(olen).div_ceil(4) * 4;
                }
                interfaces.push(Interface {
                    linktype,
                    snaplen,
                    units,
                });
                Ok(None)
            }
            6 | 2 => {
                let (id, ts_hi, ts_lo, cap, orig) = if kind == 6 {
                    (
                        u32_at(body, 0, order),
                        u32_at(body, 4, order),
                        u32_at(body, 8, order),
                        u32_at(body, 12, order),
                        u32_at(body, 16, order),
                    )
                } else {
                    (
                        u16_at(body, 0, order).map(u32::from),
                        u32_at(body, 4, order),
                        u32_at(body, 8, order),
                        u32_at(body, 12, order),
                        u32_at(body, 16, order),
                    )
                };
                let (Some(id), Some(hi), Some(lo), Some(cap), Some(orig)) =
                    (id, ts_hi, ts_lo, cap, orig)
                else {
                    return Err(trunc("packet block"));
                };
                let iface = *interfaces
                    .get(id as usize)
                    .ok_or(CaptureError::UnknownInterface { id, offset: at })?;
                let data = body
                    .get(20..20usize.saturating_add(cap as usize))
                    .ok_or(trunc("packet data"))?;
                let ts = (u64::from(hi) << 32) | u64::from(lo);
                let units = iface.units.max(1);
                let nsec = (u128::from(ts % units) * 1_000_000_000 / u128::from(units)) as u32;
                Ok(Some(Record {
                    ts_sec: ts / units,
                    ts_nsec: nsec,
                    data,
                    orig_len: orig,
                    linktype: iface.linktype,
                }))
            }
            3 => {
                let iface = *interfaces
                    .first()
                    .ok_or(CaptureError::UnknownInterface { id: 0, offset: at })?;
                let orig = u32_at(body, 0, order).ok_or(trunc("simple packet block"))?;
                let cap = if iface.snaplen == 0 {
                    orig
                } else {
                    orig.min(iface.snaplen)
                };
                let data = body
                    .get(4..4usize.saturating_add(cap as usize))
                    .ok_or(trunc("packet data"))?;
                Ok(Some(Record {
                    ts_sec: 0,
                    ts_nsec: 0,
                    data,
                    orig_len: orig,
                    linktype: iface.linktype,
                }))
            }
            _ => Ok(None),
        }
    }

    fn pcap_record(&mut self) -> Result<Record<'a>, CaptureError> {
        let Format::Pcap {
            order,
            nanos,
            linktype,
        } = self.format
        else {
            return Err(CaptureError::Truncated {
                what: "record",
                offset: self.at,
            });
        };
        let at = self.at;
        let trunc = |what| CaptureError::Truncated { what, offset: at };
        let b = self.bytes;
        let (Some(sec), Some(frac), Some(incl), Some(orig)) = (
            u32_at(b, at, order),
            u32_at(b, at + 4, order),
            u32_at(b, at + 8, order),
            u32_at(b, at + 12, order),
        ) else {
            return Err(trunc("record header"));
        };
        let start = at + 16;
        let data = b
            .get(start..start.saturating_add(incl as usize))
            .ok_or(trunc("record data"))?;
        self.at = start + data.len();
        Ok(Record {
            ts_sec: u64::from(sec),
            ts_nsec: if nanos {
                frac
            } else {
                frac.saturating_mul(1000)
            },
            data,
            orig_len: orig,
            linktype,
        })
    }
}

impl<'a> Iterator for Capture<'a> {
    type Item = Result<Record<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && self.at < self.bytes.len() {
            let result = match self.format {
                Format::Pcap { .. } => self.pcap_record().map(Some),
                Format::Pcapng { .. } => self.pcapng_block(),
            };
            match result {
                Ok(Some(record)) => return Some(Ok(record)),
                Ok(None) => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[&[u8]]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(PCAP_MICROS.to_le_bytes());
        f.extend(2u16.to_le_bytes());
        f.extend(4u16.to_le_bytes());
        f.extend([0; 8]);
        f.extend(65535u32.to_le_bytes());
        f.extend(1u32.to_le_bytes());
        for (i, r) in records.iter().enumerate() {
            f.extend((i as u32).to_le_bytes());
            f.extend(5u32.to_le_bytes());
            f.extend((r.len() as u32).to_le_bytes());
            f.extend((r.len() as u32).to_le_bytes());
            f.extend(*r);
        }
        f
    }

    #[test]
    fn reads_records_then_reports_truncation() {
        let mut file = pcap(&[b"abc", b"defg"]);
        let good = file.len();
        file.extend([1, 2, 3]);
        let capture = Capture::parse(&file).unwrap();
        assert_eq!(capture.linktype(), Some(1));
        let items: Vec<_> = capture.collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap().data, b"defg");
        assert_eq!(items[1].as_ref().unwrap().ts_nsec, 5000);
        assert_eq!(
            items[2],
            Err(CaptureError::Truncated {
                what: "record header",
                offset: good
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            if let Ok(c) = Capture::parse(&bytes) {
                let _ = c.count();
            }
        }
        let mut ng = PCAPNG_SHB.to_le_bytes().to_vec();
        ng.extend(28u32.to_le_bytes());
        ng.extend(PCAPNG_BOM.to_le_bytes());
        ng.extend([1, 0, 0, 0]);
        ng.extend([0xff; 8]);
        ng.extend(28u32.to_le_bytes());
        ng.extend([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        let c = Capture::parse(&ng).unwrap();
        assert!(c.last().unwrap().is_err());
    }
}
