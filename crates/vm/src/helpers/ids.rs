//! Ids of the standard helpers (`BPF_FUNC_*` in the kernel's
//! `include/uapi/linux/bpf.h`); the map helpers' are in
//! [`maps::helper_ids`](crate::maps::helper_ids).

/// `long bpf_probe_read(dst, size, unsafe_ptr)`.
pub const PROBE_READ: u32 = 4;
/// `u64 bpf_ktime_get_ns(void)`.
pub const KTIME_GET_NS: u32 = 5;
/// `long bpf_trace_printk(fmt, fmt_size, ...)`.
pub const TRACE_PRINTK: u32 = 6;
/// `u32 bpf_get_prandom_u32(void)`.
pub const GET_PRANDOM_U32: u32 = 7;
/// `long bpf_skb_store_bytes(skb, offset, from, len, flags)`.
pub const SKB_STORE_BYTES: u32 = 9;
/// `long bpf_l3_csum_replace(skb, offset, from, to, size)`.
pub const L3_CSUM_REPLACE: u32 = 10;
/// `long bpf_l4_csum_replace(skb, offset, from, to, flags)`.
pub const L4_CSUM_REPLACE: u32 = 11;
/// `u64 bpf_get_current_pid_tgid(void)`.
pub const GET_CURRENT_PID_TGID: u32 = 14;
/// `u64 bpf_get_current_uid_gid(void)`.
pub const GET_CURRENT_UID_GID: u32 = 15;
/// `long bpf_get_current_comm(buf, size_of_buf)`.
pub const GET_CURRENT_COMM: u32 = 16;
/// `long bpf_skb_load_bytes(skb, offset, to, len)`.
pub const SKB_LOAD_BYTES: u32 = 26;
/// `s64 bpf_csum_diff(from, from_size, to, to_size, seed)`.
pub const CSUM_DIFF: u32 = 28;
/// `long bpf_probe_read_str(dst, size, unsafe_ptr)`.
pub const PROBE_READ_STR: u32 = 45;
/// `long bpf_strtol(buf, buf_len, flags, res)`.
pub const STRTOL: u32 = 105;
/// `long bpf_strtoul(buf, buf_len, flags, res)`.
pub const STRTOUL: u32 = 106;
/// `long bpf_probe_read_user(dst, size, unsafe_ptr)`.
pub const PROBE_READ_USER: u32 = 112;
/// `long bpf_probe_read_kernel(dst, size, unsafe_ptr)`.
pub const PROBE_READ_KERNEL: u32 = 113;
/// `long bpf_probe_read_user_str(dst, size, unsafe_ptr)`.
pub const PROBE_READ_USER_STR: u32 = 114;
/// `long bpf_probe_read_kernel_str(dst, size, unsafe_ptr)`.
pub const PROBE_READ_KERNEL_STR: u32 = 115;
/// `u64 bpf_ktime_get_boot_ns(void)`.
pub const KTIME_GET_BOOT_NS: u32 = 125;
/// `u64 bpf_ktime_get_coarse_ns(void)`.
pub const KTIME_GET_COARSE_NS: u32 = 160;
/// `long bpf_snprintf(str, str_size, fmt, data, data_len)`.
pub const SNPRINTF: u32 = 165;
/// `u64 bpf_get_func_ip(ctx)`.
pub const GET_FUNC_IP: u32 = 173;
/// `long bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`.
pub const LOOP: u32 = 181;
