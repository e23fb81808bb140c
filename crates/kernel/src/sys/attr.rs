//! The kernel's `union bpf_attr`, one struct per member this crate uses, and
//! the info structs `BPF_OBJ_GET_INFO_BY_FD` fills.
//!
//! Each struct is `repr(C)` with every padding byte an explicit `_pad` field,
//! so its bytes are exactly the union member's (checked against the offsets
//! of Linux 6.1's `include/uapi/linux/bpf.h` in the tests below). Passing only
//! the member, not the whole 144-byte union, is what the kernel expects: it
//! zero-fills the rest, and rejects non-zero bytes past the fields it knows.
//!
//! [`Attr::build`] turns a [`Command`] into one of these, taking every
//! address together with its length from the same Rust buffer; that pairing
//! is what `raw` relies on.

use super::{Command, fd_u32};

/// `BPF_MAP_CREATE`, through `map_extra` (Linux 5.16).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}

/// `BPF_MAP_*_ELEM` and `BPF_MAP_GET_NEXT_KEY` (`value` is `next_key`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `BPF_MAP_*_BATCH`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// `BPF_PROG_LOAD`, through `log_true_size` (Linux 6.4; older kernels
/// ignore it as long as it is zero on the way in).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
}

/// `BPF_BTF_LOAD`, through `btf_log_true_size` (Linux 6.4).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
}

/// `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ObjAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}

/// `BPF_*_GET_NEXT_ID` and `BPF_*_GET_FD_BY_ID` (`start_id` is the id).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdAttr {
    pub start_id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `BPF_LINK_CREATE`: the common head, then the per-attach-type union as
/// words (`target_btf_id`, a perf event's `bpf_cookie`, TCX's relative
/// fd/id and expected revision all start at its first word).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkCreateAttr {
    pub prog_fd: u32,
    /// `target_fd` or `target_ifindex`.
    pub target: u32,
    pub attach_type: u32,
    pub flags: u32,
    pub extra: [u64; 4],
}

/// `BPF_RAW_TRACEPOINT_OPEN`, through `cookie` (Linux 6.10; zero is what
/// older kernels want).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawTracepointAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad: u32,
    pub cookie: u64,
}

/// Commands whose attr is one `__u32`: `BPF_LINK_DETACH` (`link_fd`) and
/// `BPF_ENABLE_STATS` (`type`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WordAttr {
    pub word: u32,
}

/// `struct bpf_prog_info` up to `attach_btf_id` (Linux 6.0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProgInfoRaw {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    /// Bit 0: `gpl_compatible`.
    pub flags: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad: u32,
}

/// `struct bpf_btf_info`, through `kernel_btf` (Linux 5.14).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BtfInfoRaw {
    pub btf: u64,
    pub btf_size: u32,
    pub id: u32,
    pub name: u64,
    pub name_len: u32,
    pub kernel_btf: u32,
}

/// `struct bpf_map_info` up to `map_extra` (Linux 5.16).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapInfoRaw {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub _pad: u32,
    pub map_extra: u64,
}

/// The attr of one call, ready for the kernel.
#[derive(Debug)]
pub(crate) enum Attr {
    MapCreate(MapCreateAttr),
    MapElem(MapElemAttr),
    Batch(BatchAttr),
    ProgLoad(ProgLoadAttr),
    BtfLoad(BtfLoadAttr),
    Obj(ObjAttr),
    Id(IdAttr),
    Info(InfoAttr),
    TestRun(TestRunAttr),
    LinkCreate(LinkCreateAttr),
    RawTracepoint(RawTracepointAttr),
    Word(WordAttr),
}

/// The address of `bytes` as the kernel's `__aligned_u64`, or 0 (NULL)
/// when empty: the kernel treats NULL as "no buffer", and for some fields
/// (a test run's `data_out`) a non-NULL address with a zero size would mean
/// "as much as you like".
fn addr(bytes: &[u8]) -> u64 {
    if bytes.is_empty() {
        0
    } else {
        bytes.as_ptr().expose_provenance() as u64
    }
}

/// Bytes of one `struct bpf_func_info` and one `struct bpf_line_info`.
pub(crate) const FUNC_INFO_LEN: usize = 8;
pub(crate) const LINE_INFO_LEN: usize = 16;

/// The record size field of a record array: zero with no records, as
/// libbpf sends it.
fn record_len(records: &[u8], len: usize) -> u32 {
    if records.is_empty() { 0 } else { len_u32(len) }
}

/// [`addr`] of a buffer the kernel writes, derived from the unique borrow.
fn addr_mut(bytes: &mut [u8]) -> u64 {
    if bytes.is_empty() {
        0
    } else {
        bytes.as_mut_ptr().expose_provenance() as u64
    }
}

/// A length as the kernel's `__u32`; buffers past 4 GiB are cut to what
/// the field can say, which only makes the kernel use less of them.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Attr {
    /// The attr for `command`. Every address comes from a buffer borrowed
    /// by `command`, next to that buffer's length (or, for map keys and
    /// values, a length `Command::check_buffers` has compared with it).
    pub(super) fn build(command: &mut Command<'_>) -> Attr {
        match command {
            Command::MapCreate(attr) => Attr::MapCreate(*attr),
            Command::MapLookupElem {
                map,
                key,
                value,
                flags,
            } => Attr::MapElem(MapElemAttr {
                map_fd: map.fd_u32(),
                key: addr(key),
                value: addr_mut(value),
                flags: *flags,
                ..MapElemAttr::default()
            }),
            Command::MapUpdateElem {
                map,
                key,
                value,
                flags,
            } => Attr::MapElem(MapElemAttr {
                map_fd: map.fd_u32(),
                key: addr(key),
                value: addr(value),
                flags: *flags,
                ..MapElemAttr::default()
            }),
            Command::MapDeleteElem { map, key } => Attr::MapElem(MapElemAttr {
                map_fd: map.fd_u32(),
                key: addr(key),
                ..MapElemAttr::default()
            }),
            Command::MapGetNextKey { map, key, next_key } => Attr::MapElem(MapElemAttr {
                map_fd: map.fd_u32(),
                key: key.map_or(0, addr),
                value: addr_mut(next_key),
                ..MapElemAttr::default()
            }),
            Command::MapLookupAndDeleteElem { map, key, value } => Attr::MapElem(MapElemAttr {
                map_fd: map.fd_u32(),
                key: addr(key),
                value: addr_mut(value),
                ..MapElemAttr::default()
            }),
            Command::MapLookupBatch {
                map,
                in_batch,
                out_batch,
                keys,
                values,
                count,
                ..
            } => Attr::Batch(BatchAttr {
                in_batch: in_batch.map_or(0, addr),
                out_batch: addr_mut(out_batch),
                keys: addr_mut(keys),
                values: addr_mut(values),
                count: *count,
                map_fd: map.fd_u32(),
                ..BatchAttr::default()
            }),
            Command::MapUpdateBatch {
                map,
                keys,
                values,
                count,
                elem_flags,
            } => Attr::Batch(BatchAttr {
                keys: addr(keys),
                values: addr(values),
                count: *count,
                map_fd: map.fd_u32(),
                elem_flags: *elem_flags,
                ..BatchAttr::default()
            }),
            Command::MapDeleteBatch { map, keys, count } => Attr::Batch(BatchAttr {
                keys: addr(keys),
                count: *count,
                map_fd: map.fd_u32(),
                ..BatchAttr::default()
            }),
            Command::ProgLoad {
                attr,
                insns,
                license,
                func_info,
                line_info,
                log,
                ..
            } => Attr::ProgLoad(ProgLoadAttr {
                insn_cnt: len_u32(insns.len() / visor_isa::SLOT_LEN),
                insns: addr(insns),
                license: addr(license.to_bytes_with_nul()),
                func_info_rec_size: record_len(func_info, FUNC_INFO_LEN),
                func_info: addr(func_info),
                func_info_cnt: len_u32(func_info.len() / FUNC_INFO_LEN),
                line_info_rec_size: record_len(line_info, LINE_INFO_LEN),
                line_info: addr(line_info),
                line_info_cnt: len_u32(line_info.len() / LINE_INFO_LEN),
                log_size: len_u32(log.len()),
                log_buf: addr_mut(log),
                log_level: if log.is_empty() { 0 } else { attr.log_level },
                log_true_size: 0,
                ..*attr
            }),
            Command::BtfLoad {
                btf,
                log,
                log_level,
                ..
            } => Attr::BtfLoad(BtfLoadAttr {
                btf: addr(btf),
                btf_size: len_u32(btf.len()),
                btf_log_size: len_u32(log.len()),
                btf_log_buf: addr_mut(log),
                btf_log_level: if log.is_empty() { 0 } else { *log_level },
                btf_log_true_size: 0,
            }),
            Command::ObjPin { path, fd } => Attr::Obj(ObjAttr {
                pathname: addr(path.to_bytes_with_nul()),
                bpf_fd: fd_u32(*fd),
                file_flags: 0,
            }),
            Command::ObjGet { path } => Attr::Obj(ObjAttr {
                pathname: addr(path.to_bytes_with_nul()),
                ..ObjAttr::default()
            }),
            Command::GetNextId { start, .. } => Attr::Id(IdAttr {
                start_id: *start,
                ..IdAttr::default()
            }),
            Command::GetFdById { id, .. } => Attr::Id(IdAttr {
                start_id: *id,
                ..IdAttr::default()
            }),
            Command::ProgInfo {
                fd,
                info,
                map_ids,
                xlated,
                line_info,
            } => {
                // Only the map id array, the translated instructions and
                // their line info are asked for: every other pointer and
                // count goes in as zero, so the kernel copies nothing else
                // out. It copies at most the given length of each.
                **info = ProgInfoRaw {
                    xlated_prog_len: len_u32(xlated.len()),
                    xlated_prog_insns: addr_mut(xlated),
                    nr_line_info: len_u32(line_info.len() / LINE_INFO_LEN),
                    line_info_rec_size: record_len(line_info, LINE_INFO_LEN),
                    line_info: addr_mut(line_info),
                    nr_map_ids: len_u32(map_ids.len()),
                    map_ids: if map_ids.is_empty() {
                        0
                    } else {
                        map_ids.as_mut_ptr().expose_provenance() as u64
                    },
                    ..ProgInfoRaw::default()
                };
                Attr::Info(InfoAttr {
                    bpf_fd: fd_u32(*fd),
                    info_len: len_u32(size_of::<ProgInfoRaw>()),
                    info: core::ptr::from_mut(&mut **info).expose_provenance() as u64,
                })
            }
            Command::BtfInfo { fd, info, btf } => {
                **info = BtfInfoRaw {
                    btf_size: len_u32(btf.len()),
                    btf: addr_mut(btf),
                    ..BtfInfoRaw::default()
                };
                Attr::Info(InfoAttr {
                    bpf_fd: fd_u32(*fd),
                    info_len: len_u32(size_of::<BtfInfoRaw>()),
                    info: core::ptr::from_mut(&mut **info).expose_provenance() as u64,
                })
            }
            Command::MapInfo { fd, info } => {
                **info = MapInfoRaw::default();
                Attr::Info(InfoAttr {
                    bpf_fd: fd_u32(*fd),
                    info_len: len_u32(size_of::<MapInfoRaw>()),
                    info: core::ptr::from_mut(&mut **info).expose_provenance() as u64,
                })
            }
            Command::ProgTestRun {
                prog,
                data_in,
                data_out,
                ctx_in,
                ctx_out,
                repeat,
                flags,
                cpu,
                batch_size,
                ..
            } => Attr::TestRun(TestRunAttr {
                prog_fd: fd_u32(*prog),
                data_size_in: len_u32(data_in.len()),
                data_size_out: len_u32(data_out.len()),
                data_in: addr(data_in),
                data_out: addr_mut(data_out),
                repeat: *repeat,
                ctx_size_in: len_u32(ctx_in.len()),
                ctx_size_out: len_u32(ctx_out.len()),
                ctx_in: addr(ctx_in),
                ctx_out: addr_mut(ctx_out),
                flags: *flags,
                cpu: *cpu,
                batch_size: *batch_size,
                ..TestRunAttr::default()
            }),
            Command::LinkCreate(attr) => Attr::LinkCreate(*attr),
            Command::LinkDetach { link } => Attr::Word(WordAttr {
                word: fd_u32(*link),
            }),
            Command::RawTracepointOpen { name, prog, cookie } => {
                Attr::RawTracepoint(RawTracepointAttr {
                    name: name.map_or(0, |n| addr(n.to_bytes_with_nul())),
                    prog_fd: fd_u32(*prog),
                    _pad: 0,
                    cookie: *cookie,
                })
            }
            Command::EnableStats { kind } => Attr::Word(WordAttr { word: *kind }),
            Command::MapFreeze { map } => Attr::Word(WordAttr { word: map.fd_u32() }),
        }
    }

    /// Copies what the kernel wrote into the attr back into `command`.
    pub(super) fn write_back(&self, command: &mut Command<'_>) {
        match (self, command) {
            (
                Attr::Batch(attr),
                Command::MapLookupBatch { count, .. }
                | Command::MapUpdateBatch { count, .. }
                | Command::MapDeleteBatch { count, .. },
            ) => *count = attr.count,
            (Attr::ProgLoad(attr), Command::ProgLoad { log_true_size, .. }) => {
                *log_true_size = attr.log_true_size;
            }
            (Attr::BtfLoad(attr), Command::BtfLoad { log_true_size, .. }) => {
                *log_true_size = attr.btf_log_true_size;
            }
            (Attr::Id(attr), Command::GetNextId { next, .. }) => *next = attr.next_id,
            (
                Attr::TestRun(attr),
                Command::ProgTestRun {
                    retval,
                    duration,
                    data_size_out,
                    ctx_size_out,
                    ..
                },
            ) => {
                *retval = attr.retval;
                *duration = attr.duration;
                *data_size_out = attr.data_size_out;
                *ctx_size_out = attr.ctx_size_out;
            }
            _ => {}
        }
    }
}

/// Writes `name` into a kernel name field: at most 15 bytes and a NUL.
pub(crate) fn name_field(name: &str) -> [u8; 16] {
    let mut field = [0; 16];
    let bytes = name.as_bytes();
    let len = bytes.len().min(15);
    field[..len].copy_from_slice(&bytes[..len]);
    field
}

/// The text of a kernel name field, up to its first NUL.
pub(crate) fn name_from_field(field: &[u8; 16]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    /// Sizes and offsets printed by a C program compiled against Linux
    /// 6.1's `<linux/bpf.h>` (`offsetof(union bpf_attr, ...)`).
    #[test]
    fn layouts_match_the_uapi_header() {
        assert_eq!(offset_of!(MapCreateAttr, inner_map_fd), 20);
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(offset_of!(MapCreateAttr, map_ifindex), 44);
        assert_eq!(offset_of!(MapCreateAttr, btf_fd), 48);
        assert_eq!(offset_of!(MapCreateAttr, btf_vmlinux_value_type_id), 60);
        assert_eq!(offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(size_of::<MapCreateAttr>(), 72);

        assert_eq!(offset_of!(MapElemAttr, key), 8);
        assert_eq!(offset_of!(MapElemAttr, value), 16);
        assert_eq!(offset_of!(MapElemAttr, flags), 24);
        assert_eq!(size_of::<MapElemAttr>(), 32);

        assert_eq!(offset_of!(BatchAttr, count), 32);
        assert_eq!(offset_of!(BatchAttr, map_fd), 36);
        assert_eq!(offset_of!(BatchAttr, elem_flags), 40);
        assert_eq!(offset_of!(BatchAttr, flags), 48);
        assert_eq!(size_of::<BatchAttr>(), 56);

        assert_eq!(offset_of!(ProgLoadAttr, insns), 8);
        assert_eq!(offset_of!(ProgLoadAttr, license), 16);
        assert_eq!(offset_of!(ProgLoadAttr, log_level), 24);
        assert_eq!(offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadAttr, kern_version), 40);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(offset_of!(ProgLoadAttr, attach_btf_id), 108);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadAttr, core_relo_rec_size), 136);
        // `log_true_size` is newer than 6.1; it ends where the union does.
        assert_eq!(offset_of!(ProgLoadAttr, log_true_size), 140);
        assert_eq!(size_of::<ProgLoadAttr>(), 144);

        assert_eq!(offset_of!(BtfLoadAttr, btf_log_buf), 8);
        assert_eq!(offset_of!(BtfLoadAttr, btf_size), 16);
        assert_eq!(offset_of!(BtfLoadAttr, btf_log_level), 24);
        assert_eq!(size_of::<BtfLoadAttr>(), 32);

        assert_eq!(offset_of!(ObjAttr, bpf_fd), 8);
        assert_eq!(offset_of!(ObjAttr, file_flags), 12);
        assert_eq!(offset_of!(IdAttr, next_id), 4);
        assert_eq!(offset_of!(IdAttr, open_flags), 8);
        assert_eq!(offset_of!(InfoAttr, info_len), 4);
        assert_eq!(offset_of!(InfoAttr, info), 8);

        assert_eq!(offset_of!(TestRunAttr, retval), 4);
        assert_eq!(offset_of!(TestRunAttr, data_size_out), 12);
        assert_eq!(offset_of!(TestRunAttr, data_in), 16);
        assert_eq!(offset_of!(TestRunAttr, repeat), 32);
        assert_eq!(offset_of!(TestRunAttr, duration), 36);
        assert_eq!(offset_of!(TestRunAttr, ctx_size_in), 40);
        assert_eq!(offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(offset_of!(TestRunAttr, ctx_out), 56);
        assert_eq!(offset_of!(TestRunAttr, flags), 64);
        assert_eq!(offset_of!(TestRunAttr, cpu), 68);
        assert_eq!(offset_of!(TestRunAttr, batch_size), 72);
        assert_eq!(size_of::<TestRunAttr>(), 80);

        assert_eq!(offset_of!(LinkCreateAttr, target), 4);
        assert_eq!(offset_of!(LinkCreateAttr, attach_type), 8);
        assert_eq!(offset_of!(LinkCreateAttr, flags), 12);
        assert_eq!(offset_of!(LinkCreateAttr, extra), 16);

        assert_eq!(offset_of!(RawTracepointAttr, prog_fd), 8);
        assert_eq!(offset_of!(RawTracepointAttr, cookie), 16);
        assert_eq!(size_of::<RawTracepointAttr>(), 24);
    }

    #[test]
    fn info_layouts_match_the_uapi_header() {
        assert_eq!(offset_of!(ProgInfoRaw, tag), 8);
        assert_eq!(offset_of!(ProgInfoRaw, jited_prog_len), 16);
        assert_eq!(offset_of!(ProgInfoRaw, jited_prog_insns), 24);
        assert_eq!(offset_of!(ProgInfoRaw, load_time), 40);
        assert_eq!(offset_of!(ProgInfoRaw, created_by_uid), 48);
        assert_eq!(offset_of!(ProgInfoRaw, nr_map_ids), 52);
        assert_eq!(offset_of!(ProgInfoRaw, map_ids), 56);
        assert_eq!(offset_of!(ProgInfoRaw, name), 64);
        assert_eq!(offset_of!(ProgInfoRaw, ifindex), 80);
        assert_eq!(offset_of!(ProgInfoRaw, netns_dev), 88);
        assert_eq!(offset_of!(ProgInfoRaw, nr_jited_ksyms), 104);
        assert_eq!(offset_of!(ProgInfoRaw, btf_id), 128);
        assert_eq!(offset_of!(ProgInfoRaw, nr_prog_tags), 180);
        assert_eq!(offset_of!(ProgInfoRaw, prog_tags), 184);
        assert_eq!(offset_of!(ProgInfoRaw, run_time_ns), 192);
        assert_eq!(offset_of!(ProgInfoRaw, run_cnt), 200);
        assert_eq!(offset_of!(ProgInfoRaw, recursion_misses), 208);
        assert_eq!(offset_of!(ProgInfoRaw, verified_insns), 216);
        assert_eq!(offset_of!(ProgInfoRaw, attach_btf_obj_id), 220);
        assert_eq!(offset_of!(ProgInfoRaw, attach_btf_id), 224);
        assert_eq!(size_of::<ProgInfoRaw>(), 232);

        assert_eq!(size_of::<BtfInfoRaw>(), 32);
        assert_eq!(offset_of!(MapInfoRaw, name), 24);
        assert_eq!(offset_of!(MapInfoRaw, ifindex), 40);
        assert_eq!(offset_of!(MapInfoRaw, btf_vmlinux_value_type_id), 44);
        assert_eq!(offset_of!(MapInfoRaw, netns_dev), 48);
        assert_eq!(offset_of!(MapInfoRaw, btf_id), 64);
        assert_eq!(offset_of!(MapInfoRaw, btf_value_type_id), 72);
        assert_eq!(offset_of!(MapInfoRaw, map_extra), 80);
        assert_eq!(size_of::<MapInfoRaw>(), 88);
    }

    #[test]
    fn names_are_cut_to_fifteen_bytes_and_a_nul() {
        let field = name_field("a_rather_long_program_name");
        assert_eq!(field[15], 0);
        assert_eq!(name_from_field(&field), "a_rather_long_p");
        assert_eq!(name_from_field(&name_field("xdp")), "xdp");
    }
}
