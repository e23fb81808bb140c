//! The bpf(2) commands this crate issues (`enum bpf_cmd`).

/// A bpf(2) command: its number is the syscall's first argument, its name
/// the kernel's constant, which is what errors print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BpfCmd {
    MapCreate,
    MapLookupElem,
    MapUpdateElem,
    MapDeleteElem,
    MapGetNextKey,
    ProgLoad,
    ObjPin,
    ObjGet,
    ProgTestRun,
    ProgGetNextId,
    MapGetNextId,
    ProgGetFdById,
    MapGetFdById,
    ObjGetInfoByFd,
    BtfLoad,
    BtfGetFdById,
    RawTracepointOpen,
    MapLookupAndDeleteElem,
    BtfGetNextId,
    MapLookupBatch,
    MapLookupAndDeleteBatch,
    MapUpdateBatch,
    MapDeleteBatch,
    LinkCreate,
    LinkGetFdById,
    LinkGetNextId,
    EnableStats,
    LinkDetach,
    MapFreeze,
}

impl BpfCmd {
    /// The command's number and name, in one table.
    const fn row(self) -> (u32, &'static str) {
        match self {
            BpfCmd::MapCreate => (0, "BPF_MAP_CREATE"),
            BpfCmd::MapLookupElem => (1, "BPF_MAP_LOOKUP_ELEM"),
            BpfCmd::MapUpdateElem => (2, "BPF_MAP_UPDATE_ELEM"),
            BpfCmd::MapDeleteElem => (3, "BPF_MAP_DELETE_ELEM"),
            BpfCmd::MapGetNextKey => (4, "BPF_MAP_GET_NEXT_KEY"),
            BpfCmd::ProgLoad => (5, "BPF_PROG_LOAD"),
            BpfCmd::ObjPin => (6, "BPF_OBJ_PIN"),
            BpfCmd::ObjGet => (7, "BPF_OBJ_GET"),
            BpfCmd::ProgTestRun => (10, "BPF_PROG_TEST_RUN"),
            BpfCmd::ProgGetNextId => (11, "BPF_PROG_GET_NEXT_ID"),
            BpfCmd::MapGetNextId => (12, "BPF_MAP_GET_NEXT_ID"),
            BpfCmd::ProgGetFdById => (13, "BPF_PROG_GET_FD_BY_ID"),
            BpfCmd::MapGetFdById => (14, "BPF_MAP_GET_FD_BY_ID"),
            BpfCmd::ObjGetInfoByFd => (15, "BPF_OBJ_GET_INFO_BY_FD"),
            BpfCmd::RawTracepointOpen => (17, "BPF_RAW_TRACEPOINT_OPEN"),
            BpfCmd::BtfLoad => (18, "BPF_BTF_LOAD"),
            BpfCmd::BtfGetFdById => (19, "BPF_BTF_GET_FD_BY_ID"),
            BpfCmd::MapLookupAndDeleteElem => (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
            BpfCmd::BtfGetNextId => (23, "BPF_BTF_GET_NEXT_ID"),
            BpfCmd::MapLookupBatch => (24, "BPF_MAP_LOOKUP_BATCH"),
            BpfCmd::MapLookupAndDeleteBatch => (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
            BpfCmd::MapUpdateBatch => (26, "BPF_MAP_UPDATE_BATCH"),
            BpfCmd::MapDeleteBatch => (27, "BPF_MAP_DELETE_BATCH"),
            BpfCmd::LinkCreate => (28, "BPF_LINK_CREATE"),
            BpfCmd::LinkGetFdById => (30, "BPF_LINK_GET_FD_BY_ID"),
            BpfCmd::LinkGetNextId => (31, "BPF_LINK_GET_NEXT_ID"),
            BpfCmd::EnableStats => (32, "BPF_ENABLE_STATS"),
            BpfCmd::LinkDetach => (34, "BPF_LINK_DETACH"),
            BpfCmd::MapFreeze => (22, "BPF_MAP_FREEZE"),
        }
    }

    /// The kernel's number for the command.
    pub const fn number(self) -> u32 {
        self.row().0
    }

    /// The kernel's name, `BPF_MAP_CREATE`.
    pub const fn name(self) -> &'static str {
        self.row().1
    }
}

impl core::fmt::Display for BpfCmd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::BpfCmd;

    #[test]
    fn numbers_match_the_uapi_enum() {
        // Read off `enum bpf_cmd` in include/uapi/linux/bpf.h.
        assert_eq!(BpfCmd::MapCreate.number(), 0);
        assert_eq!(BpfCmd::ProgLoad.number(), 5);
        assert_eq!(BpfCmd::ProgTestRun.number(), 10);
        assert_eq!(BpfCmd::ObjGetInfoByFd.number(), 15);
        assert_eq!(BpfCmd::RawTracepointOpen.number(), 17);
        assert_eq!(BpfCmd::BtfLoad.number(), 18);
        assert_eq!(BpfCmd::MapLookupAndDeleteElem.number(), 21);
        assert_eq!(BpfCmd::MapLookupBatch.number(), 24);
        assert_eq!(BpfCmd::MapDeleteBatch.number(), 27);
        assert_eq!(BpfCmd::LinkCreate.number(), 28);
        assert_eq!(BpfCmd::EnableStats.number(), 32);
        assert_eq!(BpfCmd::LinkDetach.number(), 34);
        assert_eq!(BpfCmd::ObjPin.to_string(), "BPF_OBJ_PIN");
    }
}
