//! Kernel helper names by id (`enum bpf_func_id`), for messages about
//! helpers this engine lacks.

/// Names of helpers 1 to 72, in id order.
const NAMES: [&str; 72] = [
    "map_lookup_elem",
    "map_update_elem",
    "map_delete_elem",
    "probe_read",
    "ktime_get_ns",
    "trace_printk",
    "get_prandom_u32",
    "get_smp_processor_id",
    "skb_store_bytes",
    "l3_csum_replace",
    "l4_csum_replace",
    "tail_call",
    "clone_redirect",
    "get_current_pid_tgid",
    "get_current_uid_gid",
    "get_current_comm",
    "get_cgroup_classid",
    "skb_vlan_push",
    "skb_vlan_pop",
    "skb_get_tunnel_key",
    "skb_set_tunnel_key",
    "perf_event_read",
    "redirect",
    "get_route_realm",
    "perf_event_output",
    "skb_load_bytes",
    "get_stackid",
    "csum_diff",
    "skb_get_tunnel_opt",
    "skb_set_tunnel_opt",
    "skb_change_proto",
    "skb_change_type",
    "skb_under_cgroup",
    "get_hash_recalc",
    "get_current_task",
    "probe_write_user",
    "current_task_under_cgroup",
    "skb_change_tail",
    "skb_pull_data",
    "csum_update",
    "set_hash_invalid",
    "get_numa_node_id",
    "skb_change_head",
    "xdp_adjust_head",
    "probe_read_str",
    "get_socket_cookie",
    "get_socket_uid",
    "set_hash",
    "setsockopt",
    "skb_adjust_room",
    "redirect_map",
    "sk_redirect_map",
    "sock_map_update",
    "xdp_adjust_meta",
    "perf_event_read_value",
    "perf_prog_read_value",
    "getsockopt",
    "override_return",
    "sock_ops_cb_flags_set",
    "msg_redirect_map",
    "msg_apply_bytes",
    "msg_cork_bytes",
    "msg_pull_data",
    "bind",
    "xdp_adjust_tail",
    "skb_get_xfrm_state",
    "get_stack",
    "skb_load_bytes_relative",
    "fib_lookup",
    "sock_hash_update",
    "msg_redirect_hash",
    "sk_redirect_hash",
];

/// Further helpers by id that programs commonly call.
const MORE: &[(u32, &str)] = &[
    (87, "map_push_elem"),
    (88, "map_pop_elem"),
    (89, "map_peek_elem"),
    (105, "strtol"),
    (106, "strtoul"),
    (112, "probe_read_user"),
    (113, "probe_read_kernel"),
    (114, "probe_read_user_str"),
    (115, "probe_read_kernel_str"),
    (125, "ktime_get_boot_ns"),
    (130, "ringbuf_output"),
    (131, "ringbuf_reserve"),
    (132, "ringbuf_submit"),
    (133, "ringbuf_discard"),
    (134, "ringbuf_query"),
    (165, "snprintf"),
    (173, "get_func_ip"),
    (181, "loop"),
];

/// The kernel's name of helper `id` (without `bpf_`), if known here.
pub fn helper_name(id: u32) -> Option<&'static str> {
    let by_order = (id as usize)
        .checked_sub(1)
        .and_then(|i| NAMES.get(i))
        .copied();
    by_order.or_else(|| MORE.iter().find(|(n, _)| *n == id).map(|(_, name)| *name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_the_kernel_numbering() {
        assert_eq!(super::helper_name(9), Some("skb_store_bytes"));
        assert_eq!(super::helper_name(44), Some("xdp_adjust_head"));
        assert_eq!(super::helper_name(68), Some("skb_load_bytes_relative"));
        assert_eq!(super::helper_name(181), Some("loop"));
        assert_eq!(super::helper_name(0), None);
    }
}
