//! perf_event_open(2)'s `struct perf_event_attr` and the ring buffer's
//! control page, laid out as in `include/uapi/linux/perf_event.h`.
//!
//! Only what this crate sets is named; the rest of the 128 bytes
//! (`PERF_ATTR_SIZE_VER7`, Linux 5.13; every later kernel takes it) is kept
//! as explicit zero words so the struct has no padding.

/// `struct perf_event_attr` up to `sig_data` (`PERF_ATTR_SIZE_VER7`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PerfEventAttr {
    pub event_type: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period` (or `sample_freq` with the `freq` flag).
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// The bitfield word: `disabled` is bit 0, `watermark` bit 14.
    pub flags: u64,
    /// `wakeup_events` (or `wakeup_watermark` with the `watermark` flag).
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `config1`: for uprobes, the address of the binary's path. Left zero
    /// here; the door fills it from the path it is given.
    pub config1: u64,
    /// `config2`: for uprobes, the offset of the probe in the file.
    pub config2: u64,
    pub rest: [u64; 7],
}

impl PerfEventAttr {
    /// The bytes this crate passes (`PERF_ATTR_SIZE_VER7`).
    pub const SIZE: u32 = 128;
}

/// `perf_type_id`.
pub(crate) const TYPE_SOFTWARE: u32 = 1;
pub(crate) const TYPE_TRACEPOINT: u32 = 2;
/// `PERF_COUNT_SW_BPF_OUTPUT`.
pub(crate) const COUNT_SW_BPF_OUTPUT: u64 = 10;
/// `PERF_SAMPLE_RAW`.
pub(crate) const SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_FLAG_FD_CLOEXEC`.
pub(crate) const FLAG_FD_CLOEXEC: u64 = 1 << 3;

/// Byte offsets in `struct perf_event_mmap_page`, the ring's first page.
pub(crate) mod page {
    pub const DATA_HEAD: usize = 1024;
    pub const DATA_TAIL: usize = 1032;
    pub const DATA_OFFSET: usize = 1040;
    pub const DATA_SIZE: usize = 1048;
}

/// `PERF_RECORD_*` kinds a BPF output ring carries.
pub(crate) const RECORD_LOST: u32 = 2;
pub(crate) const RECORD_SAMPLE: u32 = 9;

/// perf ioctls (`_IO('$', n)` and `_IOW('$', 8, __u32)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PerfIoctl {
    Enable,
    Disable,
    SetBpf,
}

impl PerfIoctl {
    pub(crate) const fn request(self) -> u64 {
        match self {
            PerfIoctl::Enable => 0x2400,
            PerfIoctl::Disable => 0x2401,
            // _IOW('$', 8, __u32): direction write (1 << 30), size 4 << 16.
            PerfIoctl::SetBpf => 0x4004_2408,
        }
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    #[test]
    fn attr_layout_matches_the_uapi_header() {
        assert_eq!(offset_of!(PerfEventAttr, config), 8);
        assert_eq!(offset_of!(PerfEventAttr, sample_type), 24);
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, wakeup_events), 48);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, config2), 64);
        assert_eq!(size_of::<PerfEventAttr>() as u32, PerfEventAttr::SIZE);
    }
}
