//! `visor trace connect`: outgoing TCP connections, like BCC's
//! tcpconnect, from `sock:inet_sock_set_state` when a socket enters
//! SYN_SENT (the kernel does that in the connecting task, so the pid and
//! command are the caller's). `connect.bpf.c` copies the tracepoint's
//! record into a ring buffer; this decodes the family, addresses and
//! destination port with the tracepoint's format file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use visor_kernel::{RingBuffer, TracepointFormat, UpdateMode, attach_tracepoint};

use super::{Limits, c_string, load, objects, program, run_tool, u32_at};

#[derive(Args)]
pub struct ConnectArgs {
    /// Stop after this many connections.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    limits: Limits,
}

/// `struct event` of connect.bpf.c.
mod event {
    pub const PID: usize = 0;
    pub const RECORD_LEN: usize = 4;
    pub const COMM: std::ops::Range<usize> = 8..24;
    pub const RECORD: usize = 24;
    /// `RECORD_MAX`: the bytes of the record the program copies at most.
    pub const RECORD_MAX: usize = 128;
}

const AF_INET: i128 = 2;
const AF_INET6: i128 = 10;

pub fn run(args: &ConnectArgs) -> anyhow::Result<ExitCode> {
    let format = TracepointFormat::read("sock", "inet_sock_set_state")?;
    let newstate = format.field("newstate").context("no newstate field")?;
    // The fixed part of the record: it has no `__data_loc` fields.
    let record_len = format
        .fields
        .iter()
        .map(|f| f.offset + f.size)
        .max()
        .unwrap_or(0);
    if record_len > event::RECORD_MAX {
        bail!(
            "sock:inet_sock_set_state records are {record_len} bytes; the program copies {}",
            event::RECORD_MAX
        );
    }
    let object = load(objects::CONNECT)?;
    let config = object.map("config").context("no config map")?.fd();
    let words = [newstate.offset as u32, record_len as u32];
    let value: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    config.update(&0u32.to_ne_bytes(), &value, UpdateMode::Any)?;
    let mut ring = RingBuffer::new(object.map("events").context("no events map")?.fd())?;
    let link = attach_tracepoint(
        program(&object, "connect")?.fd(),
        "sock",
        "inet_sock_set_state",
    )?;
    eprintln!("Tracing TCP connect (SYN_SENT). Ctrl-C to end.");
    let count = args.count;
    run_tool(args.limits, move |session, out| {
        let _keep = (link, object);
        writeln!(
            out,
            "{:<7} {:<16} {:<2} {:<16} {:<16} {:>5}",
            "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"
        )?;
        let mut printed = 0;
        while !session.done() && count.is_none_or(|n| printed < n) {
            for record in ring.poll(session.tick())? {
                let Some(connection) = Connection::decode(&format, &record) else {
                    continue;
                };
                let ip = if connection.saddr.is_ipv4() { 4 } else { 6 };
                writeln!(
                    out,
                    "{:<7} {:<16} {ip:<2} {:<16} {:<16} {:>5}",
                    connection.pid,
                    connection.comm,
                    connection.saddr,
                    connection.daddr,
                    connection.dport
                )?;
                printed += 1;
                if count.is_some_and(|n| printed >= n) {
                    break;
                }
            }
        }
        Ok(())
    })
}

/// One connection attempt, decoded.
struct Connection {
    pid: u32,
    comm: String,
    saddr: IpAddr,
    daddr: IpAddr,
    dport: u16,
}

impl Connection {
    fn decode(format: &TracepointFormat, event: &[u8]) -> Option<Connection> {
        let len = (u32_at(event, event::RECORD_LEN)? as usize).min(event::RECORD_MAX);
        let record = event.get(event::RECORD..event::RECORD + len)?;
        let int = |name: &str| format.field(name)?.int(record);
        let bytes = |name: &str| format.field(name)?.bytes(record);
        let (saddr, daddr) = match int("family")? {
            AF_INET => {
                let v4 = |b: &[u8]| Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?)));
                (v4(bytes("saddr")?)?, v4(bytes("daddr")?)?)
            }
            AF_INET6 => {
                let v6 = |b: &[u8]| Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?)));
                (v6(bytes("saddr_v6")?)?, v6(bytes("daddr_v6")?)?)
            }
            _ => return None,
        };
        Some(Connection {
            pid: u32_at(event, event::PID)?,
            comm: c_string(event.get(event::COMM)?),
            saddr,
            daddr,
            // The tracepoint stores ports in host order.
            dport: u16::try_from(int("dport")?).ok()?,
        })
    }
}
