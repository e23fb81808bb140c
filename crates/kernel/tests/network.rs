//! Network attach points run for real: socket filters on loopback UDP
//! sockets, TCX ingress and generic XDP on a veth pair between two
//! private network namespaces this test makes (and removes, pass or fail).
//! Traffic goes only between the two namespace ends.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{asm_with_maps, bpf_available, bump, chain, count, counters, load};
use visor_isa::cbpf;
use visor_kernel::{MapFd, ProgramFd, ProgramType, SocketFilter, TcDirection, XdpMode};

/// Receives datagrams on `socket` until none comes for 200 ms; returns
/// their source ports.
fn drain(socket: &UdpSocket) -> Vec<u16> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut ports = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok((_, from)) = socket.recv_from(&mut buf) {
        ports.push(from.port());
    }
    ports
}

fn send(from: &UdpSocket, to: SocketAddr, n: usize) {
    for i in 0..n {
        from.send_to(&[i as u8; 16], to).unwrap();
    }
}

fn loopback() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn an_ebpf_socket_filter_keeps_one_senders_datagrams() {
    if !bpf_available("an_ebpf_socket_filter_keeps_one_senders_datagrams") {
        return;
    }
    let (receiver, keep, drop_) = (loopback(), loopback(), loopback());
    let to = receiver.local_addr().unwrap();
    let keep_port = keep.local_addr().unwrap().port();
    let counts = counters("sf_counts", 1);
    // A UDP socket's filter sees the packet from the UDP header: LD_ABS
    // half-word 0 is the source port. Count every packet, keep only those
    // from `keep`.
    let text = format!(
        "
        r6 = r1
        {}
        r0 = *(u16 *)skb[0]
        if r0 == {keep_port} goto keep
        r0 = 0
        exit
    keep:
        r0 = -1
        exit
        ",
        bump("0")
    );
    let prog = load(
        "sf_port",
        ProgramType::SocketFilter,
        &asm_with_maps(&text, &[&counts]),
    );
    let filter =
        SocketFilter::attach(&prog, receiver.as_fd()).unwrap_or_else(|e| panic!("{}", chain(&e)));
    send(&keep, to, 7);
    send(&drop_, to, 5);
    let got = drain(&receiver);
    println!(
        "eBPF socket filter: 12 sent, {} seen by the program, {} received",
        count(&counts, 0),
        got.len()
    );
    assert_eq!(count(&counts, 0), 12);
    assert_eq!(got, vec![keep_port; 7]);
    filter.detach().unwrap_or_else(|e| panic!("{}", chain(&e)));
    send(&drop_, to, 3);
    assert_eq!(drain(&receiver).len(), 3, "all pass after detach");
    assert_eq!(count(&counts, 0), 12);
}

#[test]
fn a_classic_socket_filter_keeps_one_senders_datagrams() {
    if !bpf_available("a_classic_socket_filter_keeps_one_senders_datagrams") {
        return;
    }
    let (receiver, keep, drop_) = (loopback(), loopback(), loopback());
    let to = receiver.local_addr().unwrap();
    let keep_port = keep.local_addr().unwrap().port();
    // ldh [0]; jeq #port, 0, 1; ret #-1; ret #0
    let program = [
        cbpf::Insn::new(0x28, 0, 0, 0),
        cbpf::Insn::new(0x15, 0, 1, u32::from(keep_port)),
        cbpf::Insn::new(0x06, 0, 0, u32::MAX),
        cbpf::Insn::new(0x06, 0, 0, 0),
    ];
    {
        let _filter = SocketFilter::attach_classic(&program, receiver.as_fd())
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        send(&drop_, to, 4);
        send(&keep, to, 6);
        let got = drain(&receiver);
        println!("classic socket filter: 10 sent, {} received", got.len());
        assert_eq!(got, vec![keep_port; 6]);
    }
    // Dropped: detached.
    send(&drop_, to, 2);
    assert_eq!(drain(&receiver).len(), 2);
}

/// Two network namespaces joined by a veth pair; deleted on drop.
struct VethPair {
    names: [String; 2],
}

const ADDRS: [&str; 2] = ["10.231.7.1", "10.231.7.2"];
const DEVS: [&str; 2] = ["visor0", "visor1"];

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl VethPair {
    fn new(tag: &str) -> Result<VethPair, String> {
        let pid = std::process::id();
        let pair = VethPair {
            names: [
                format!("visor-{tag}-{pid}-a"),
                format!("visor-{tag}-{pid}-b"),
            ],
        };
        for name in &pair.names {
            ip(&["netns", "add", name])?;
        }
        let [a, b] = &pair.names;
        ip(&[
            "link", "add", DEVS[0], "netns", a, "type", "veth", "peer", "name", DEVS[1], "netns", b,
        ])?;
        for (i, ns) in pair.names.iter().enumerate() {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", ADDRS[i]),
                "dev",
                DEVS[i],
            ])?;
            ip(&["-n", ns, "link", "set", DEVS[i], "up"])?;
        }
        Ok(pair)
    }

    fn path(&self, i: usize) -> std::path::PathBuf {
        Path::new("/run/netns").join(&self.names[i])
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for name in &self.names {
            // Deleting a namespace deletes the veth end in it, and the pair.
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Counts UDP/IPv4 packets to port 7777 (key 0) and 7778 (key 1) in
/// `map[fd:0]`; `data`/`data_end` are loaded from the context by `head`.
/// Returns `keep` for 7777 and other packets, `drop` for 7778.
fn port_counter(head: &str, keep: i32, drop: i32) -> String {
    format!(
        "
        {head}
        r7 = {keep}
        r4 = r2
        r4 += 38
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 12)
        if r5 != 8 goto out
        r5 = *(u8 *)(r2 + 13)
        if r5 != 0 goto out
        r5 = *(u8 *)(r2 + 23)
        if r5 != 17 goto out
        r5 = *(u16 *)(r2 + 36)
        r6 = 0
        if r5 == {p7777} goto count
        r6 = 1
        r7 = {drop}
        if r5 == {p7778} goto count
        r7 = {keep}
        goto out
    count:
        {bump}
    out:
        r0 = r7
        exit
        ",
        p7777 = u16::from_ne_bytes(7777u16.to_be_bytes()),
        p7778 = u16::from_ne_bytes(7778u16.to_be_bytes()),
        bump = bump("r6"),
    )
}

/// Sends `to_keep` datagrams to :7777 and `to_drop` to :7778 of the
/// second address from `sender`; returns how many `keep` and `dropped`
/// (the sockets bound there) received.
fn exchange(
    sender: &UdpSocket,
    keep: &UdpSocket,
    dropped: &UdpSocket,
    to_keep: usize,
    to_drop: usize,
) -> Result<(usize, usize), String> {
    let to = |port| SocketAddr::from(([10, 231, 7, 2], port));
    // One first packet, and wait for it: ARP resolves before the rest.
    send(sender, to(7777), 1);
    keep.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    keep.recv_from(&mut buf)
        .map_err(|e| format!("first packet: {e}"))?;
    send(sender, to(7777), to_keep - 1);
    send(sender, to(7778), to_drop);
    Ok((1 + drain(keep).len(), drain(dropped).len()))
}

/// A veth pair for `test`, or `None` (and a `skipped:` line) when bpf(2)
/// or network namespaces are out of reach.
fn veth_pair(test: &str, tag: &str) -> Option<VethPair> {
    if !bpf_available(test) {
        return None;
    }
    VethPair::new(tag)
        .inspect_err(|e| println!("skipped: {test}: cannot make network namespaces: {e}"))
        .ok()
}

/// [`port_counter`] as a TC program (`__sk_buff.data` at 76, `data_end` at
/// 80) that passes (0) other packets and returns `drop` for :7778.
fn tc_port_counter(name: &str, counts: &MapFd, drop: i32) -> ProgramFd {
    load(
        name,
        ProgramType::SchedCls,
        &asm_with_maps(
            &port_counter("r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)", 0, drop),
            &[counts],
        ),
    )
}

#[test]
fn tcx_ingress_and_generic_xdp_count_packets_on_a_veth_pair() {
    let test = "tcx_ingress_and_generic_xdp_count_packets_on_a_veth_pair";
    let Some(pair) = veth_pair(test, "tcx") else {
        return;
    };
    let xdp_counts = counters("xdp_counts", 2);
    let tc_counts = counters("tc_counts", 2);
    // XDP: xdp_md.data at 0, data_end at 4; XDP_PASS 2, XDP_DROP 1.
    let xdp = load(
        "xdp_ports",
        ProgramType::Xdp,
        &asm_with_maps(
            &port_counter("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)", 2, 1),
            &[&xdp_counts],
        ),
    );
    let tc = tc_port_counter("tc_ports", &tc_counts, 0);
    // A thread of its own enters the namespaces, so the test harness's
    // threads stay where they are.
    let (a, b) = (pair.path(0), pair.path(1));
    let received = std::thread::spawn(move || -> Result<(usize, usize), String> {
        let e = |e: visor_kernel::KernelError| chain(&e);
        visor_kernel::enter_netns(&b).map_err(e)?;
        let index = visor_kernel::ifindex(DEVS[1]).map_err(e)?;
        let xdp_link = visor_kernel::attach_xdp(&xdp, index, XdpMode::Generic).map_err(e)?;
        let tc_link = visor_kernel::attach_tcx(&tc, index, TcDirection::Ingress).map_err(e)?;
        let keep = UdpSocket::bind((ADDRS[1], 7777)).map_err(|e| e.to_string())?;
        let dropped = UdpSocket::bind((ADDRS[1], 7778)).map_err(|e| e.to_string())?;
        visor_kernel::enter_netns(&a).map_err(e)?;
        let sender = UdpSocket::bind((ADDRS[0], 0)).map_err(|e| e.to_string())?;
        let (kept, lost) = exchange(&sender, &keep, &dropped, 25, 10)?;
        drop(tc_link);
        xdp_link.detach().map_err(e)?;
        Ok((kept, lost))
    })
    .join()
    .expect("the namespace thread does not panic");
    let (kept, lost) = received.unwrap_or_else(|e| panic!("{e}"));
    let xdp_seen = (count(&xdp_counts, 0), count(&xdp_counts, 1));
    let tc_seen = (count(&tc_counts, 0), count(&tc_counts, 1));
    println!(
        "veth: 25 to :7777, 10 to :7778; XDP saw {xdp_seen:?}, TCX saw {tc_seen:?}, \
         received {kept} and {lost}"
    );
    assert_eq!(xdp_seen, (25, 10));
    assert_eq!(tc_seen, (25, 0), "XDP dropped :7778 before TC");
    assert_eq!((kept, lost), (25, 0));
    drop(pair);
}

/// What `tc filter show` lists on one side of a device in a namespace.
fn tc_filters(netns: &str, dev: &str, side: &str) -> String {
    let out = Command::new("tc")
        .args(["-n", netns, "filter", "show", "dev", dev, side])
        .output()
        .expect("tc runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pre-TCX path: a clsact qdisc and a direct-action cls_bpf filter,
/// on the sender's egress this time. The filter drops :7778 there, is
/// listed by `tc filter show` while attached, and is gone after detach.
#[test]
fn a_clsact_egress_filter_counts_drops_and_detaches() {
    let test = "a_clsact_egress_filter_counts_drops_and_detaches";
    let Some(pair) = veth_pair(test, "cls") else {
        return;
    };
    let counts = counters("cls_counts", 2);
    // TC_ACT_SHOT 2.
    let tc = tc_port_counter("cls_ports", &counts, 2);
    let (a, b) = (pair.path(0), pair.path(1));
    let ns_a = pair.names[0].clone();
    let received = std::thread::spawn(move || -> Result<_, String> {
        let e = |e: visor_kernel::KernelError| chain(&e);
        visor_kernel::enter_netns(&b).map_err(e)?;
        let keep = UdpSocket::bind((ADDRS[1], 7777)).map_err(|e| e.to_string())?;
        let dropped = UdpSocket::bind((ADDRS[1], 7778)).map_err(|e| e.to_string())?;
        visor_kernel::enter_netns(&a).map_err(e)?;
        let index = visor_kernel::ifindex(DEVS[0]).map_err(e)?;
        let filter = visor_kernel::attach_tc_clsact(&tc, index, TcDirection::Egress).map_err(e)?;
        // A second filter on the same hook takes the next free priority.
        let second = visor_kernel::attach_tc_clsact(&tc, index, TcDirection::Egress).map_err(e)?;
        let priorities = (filter.priority(), second.priority());
        second.detach().map_err(e)?;
        let listed = tc_filters(&ns_a, DEVS[0], "egress");
        let sender = UdpSocket::bind((ADDRS[0], 0)).map_err(|e| e.to_string())?;
        let (kept, lost) = exchange(&sender, &keep, &dropped, 10, 4)?;
        filter.detach().map_err(e)?;
        let after = tc_filters(&ns_a, DEVS[0], "egress");
        Ok((kept, lost, priorities, listed, after))
    })
    .join()
    .expect("the namespace thread does not panic");
    let (kept, lost, priorities, listed, after) = received.unwrap_or_else(|e| panic!("{e}"));
    let seen = (count(&counts, 0), count(&counts, 1));
    println!("clsact egress (prefs {priorities:?}): counted {seen:?}, received {kept} and {lost}");
    assert_eq!(priorities, (1, 2));
    println!("tc filter show while attached:\n{listed}");
    assert_eq!(seen, (10, 4));
    assert_eq!((kept, lost), (10, 0), "the filter dropped :7778 on egress");
    assert!(
        listed.contains("bpf") && listed.contains("cls_ports") && listed.contains("direct-action"),
        "{listed}"
    );
    assert_eq!(after.trim(), "", "nothing left after detach");
    drop(pair);
}
