//! Just enough rtnetlink for TC: requests made of a `struct nlmsghdr`, a
//! `struct tcmsg` and attributes, sent on a `NETLINK_ROUTE` socket, and
//! the kernel's acknowledgement read back with its extended-ack message
//! ("Exclusivity flag on, cannot modify") when it refuses.
//!
//! The socket belongs to the network namespace of the thread that opened
//! it, for as long as it lives: requests on it address that namespace's
//! devices even after the thread has moved on.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::error::{KernelError, OsCall};
use crate::sys;

/// `RTM_*` message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteMessage {
    NewQdisc = 36,
    NewFilter = 44,
    DelFilter = 45,
}

/// `NLM_F_*` request flags.
pub(crate) mod flags {
    pub const REQUEST: u16 = 0x1;
    pub const ACK: u16 = 0x4;
    /// With `CREATE`: fail with `EEXIST` rather than replace.
    pub const EXCL: u16 = 0x200;
    pub const CREATE: u16 = 0x400;
}

const HEADER_LEN: usize = 16;
const TCMSG_LEN: usize = 20;
const ATTR_HEADER_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
/// `NLM_F_ACK_TLVS` on an error message: attributes follow it.
const ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const SOL_NETLINK: i32 = 270;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;

/// The `struct tcmsg` of a request: which device, and which object on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcMessage {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    /// For filters: priority in the upper 16 bits, protocol (network
    /// order) in the lower.
    pub info: u32,
}

/// One request being built.
#[derive(Debug)]
pub(crate) struct Request {
    bytes: Vec<u8>,
    /// Start offsets of the nested attributes still open.
    open: Vec<usize>,
}

impl Request {
    pub(crate) fn new(kind: RouteMessage, flags: u16, tc: TcMessage) -> Request {
        let mut bytes = Vec::with_capacity(HEADER_LEN + TCMSG_LEN + 64);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
        bytes.extend_from_slice(&(kind as u16).to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // sequence, set by `finish`
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's is 0
        bytes.extend_from_slice(&[0; 4]); // family AF_UNSPEC and padding
        bytes.extend_from_slice(&tc.ifindex.to_ne_bytes());
        bytes.extend_from_slice(&tc.handle.to_ne_bytes());
        bytes.extend_from_slice(&tc.parent.to_ne_bytes());
        bytes.extend_from_slice(&tc.info.to_ne_bytes());
        Request {
            bytes,
            open: Vec::new(),
        }
    }

    /// Appends an attribute, padded to 4 bytes.
    pub(crate) fn attr(mut self, kind: u16, payload: &[u8]) -> Request {
        let len = ATTR_HEADER_LEN + payload.len();
        self.bytes
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(payload);
        self.pad();
        self
    }

    /// Appends a string attribute with its NUL.
    pub(crate) fn str_attr(self, kind: u16, value: &str) -> Request {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        self.attr(kind, &payload)
    }

    pub(crate) fn u32_attr(self, kind: u16, value: u32) -> Request {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// Opens a nested attribute: what follows, up to [`Request::end_nested`],
    /// is inside it.
    pub(crate) fn nested(mut self, kind: u16) -> Request {
        self.open.push(self.bytes.len());
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub(crate) fn end_nested(mut self) -> Request {
        if let Some(start) = self.open.pop() {
            let len = u16::try_from(self.bytes.len() - start).unwrap_or(u16::MAX);
            self.bytes[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn pad(&mut self) {
        self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
    }

    /// The message, numbered `seq`, ready to send.
    fn finish(mut self, seq: u32) -> Vec<u8> {
        debug_assert!(self.open.is_empty(), "every nested attribute is closed");
        let len = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes[0..4].copy_from_slice(&len.to_ne_bytes());
        self.bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.bytes
    }
}

/// What the kernel answered a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The positive errno.
    pub errno: i32,
    /// The extended ack's message, when the kernel gave one.
    pub message: Option<String>,
}

impl Refusal {
    /// As an OS error, its message (if any) appended to `what`.
    pub(crate) fn into_error(self, what: String) -> KernelError {
        let what = match self.message {
            Some(message) => format!("{what}: {message}"),
            None => what,
        };
        KernelError::Os {
            call: OsCall::Netlink,
            what,
            source: io::Error::from_raw_os_error(self.errno),
        }
    }
}

/// A `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub(crate) struct RouteSocket {
    file: File,
    seq: u32,
}

impl RouteSocket {
    pub(crate) fn open() -> Result<RouteSocket, KernelError> {
        let failed = |call| KernelError::os(call, "open an rtnetlink socket".to_owned());
        let fd = sys::netlink_route_socket().map_err(failed(OsCall::Socket))?;
        // Errors then carry the kernel's words, and not our whole request.
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            sys::set_socket_int(std::os::fd::AsFd::as_fd(&fd), SOL_NETLINK, option, 1)
                .map_err(failed(OsCall::Setsockopt))?;
        }
        Ok(RouteSocket {
            file: File::from(fd),
            seq: 0,
        })
    }

    /// Sends `request` and waits for its acknowledgement; `Ok(Err(_))` is
    /// the kernel's refusal, `Err(_)` a failure to talk to it at all.
    pub(crate) fn call(&mut self, request: Request) -> io::Result<Result<(), Refusal>> {
        self.seq = self.seq.wrapping_add(1);
        self.file.write_all(&request.finish(self.seq))?;
        let mut buffer = vec![0; 32 * 1024];
        loop {
            let len = self.file.read(&mut buffer)?;
            if let Some(answer) = find_ack(&buffer[..len], self.seq) {
                return Ok(answer);
            }
        }
    }
}

/// The acknowledgement of request `seq` among the messages of one read,
/// if there is one.
fn find_ack(mut messages: &[u8], seq: u32) -> Option<Result<(), Refusal>> {
    while messages.len() >= HEADER_LEN {
        let len = (u32_at(messages, 0)? as usize).clamp(HEADER_LEN, messages.len());
        let (message, rest) = messages.split_at(len.next_multiple_of(4).min(messages.len()));
        messages = rest;
        let kind = u16_at(message, 4)?;
        if kind != NLMSG_ERROR || u32_at(message, 8)? != seq {
            continue;
        }
        let body = &message[HEADER_LEN..len];
        let error = i32::from_ne_bytes(body.get(..4)?.try_into().ok()?);
        if error == 0 {
            return Some(Ok(()));
        }
        // With NETLINK_CAP_ACK the echoed request is its header alone.
        let tlvs = body.get(4 + HEADER_LEN..).unwrap_or_default();
        let message = if u16_at(message, 6)? & ACK_TLVS != 0 {
            ack_message(tlvs)
        } else {
            None
        };
        return Some(Err(Refusal {
            errno: error.checked_neg().unwrap_or(i32::MAX),
            message,
        }));
    }
    None
}

/// `NLMSGERR_ATTR_MSG` among an error's attributes.
fn ack_message(mut attrs: &[u8]) -> Option<String> {
    while attrs.len() >= ATTR_HEADER_LEN {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)?;
        let payload = attrs.get(ATTR_HEADER_LEN..len)?;
        if kind == NLMSGERR_ATTR_MSG {
            let text = payload.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        attrs = attrs.get(len.next_multiple_of(4)..)?;
    }
    None
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks(4)
            .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_request_is_header_tcmsg_and_padded_attributes() {
        let tc = TcMessage {
            ifindex: 7,
            handle: 1,
            parent: 0xffff_fff2,
            info: 0x0001_0300,
        };
        let bytes = Request::new(RouteMessage::NewFilter, flags::REQUEST, tc)
            .str_attr(1, "bpf")
            .nested(2)
            .u32_attr(6, 9)
            .end_nested()
            .finish(5);
        assert_eq!(bytes.len(), HEADER_LEN + TCMSG_LEN + 8 + 4 + 8);
        let w = words(&bytes);
        assert_eq!(w[0] as usize, bytes.len());
        assert_eq!(w[1], 44 | (u32::from(flags::REQUEST) << 16));
        assert_eq!(w[2], 5, "sequence");
        assert_eq!(&w[5..9], &[7, 1, 0xffff_fff2, 0x0001_0300]);
        // TCA_KIND "bpf\0": length 8, type 1.
        assert_eq!(w[9], 8 | (1 << 16));
        assert_eq!(&bytes[40..44], b"bpf\0");
        // TCA_OPTIONS, nested, 12 bytes, holding a u32 attribute.
        assert_eq!(w[11], 12 | (u32::from(2 | NLA_F_NESTED) << 16));
        assert_eq!(w[12], 8 | (6 << 16));
        assert_eq!(w[13], 9);
    }

    fn error_message(seq: u32, errno: i32, text: Option<&str>) -> Vec<u8> {
        let mut tlvs = Vec::new();
        if let Some(text) = text {
            let len = ATTR_HEADER_LEN + text.len() + 1;
            tlvs.extend_from_slice(&(len as u16).to_ne_bytes());
            tlvs.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            tlvs.extend_from_slice(text.as_bytes());
            tlvs.push(0);
            tlvs.resize(tlvs.len().next_multiple_of(4), 0);
        }
        let len = HEADER_LEN + 4 + HEADER_LEN + tlvs.len();
        let flags = if text.is_some() { ACK_TLVS } else { 0 };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(len as u32).to_ne_bytes());
        bytes.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&(-errno).to_ne_bytes());
        bytes.extend_from_slice(&[0; HEADER_LEN]);
        bytes.extend_from_slice(&tlvs);
        bytes
    }

    #[test]
    fn acks_and_refusals_are_found_by_sequence_number() {
        assert_eq!(find_ack(&error_message(3, 0, None), 3), Some(Ok(())));
        assert_eq!(find_ack(&error_message(3, 0, None), 4), None);
        let mut two = error_message(1, libc::ENOENT, None);
        two.extend(error_message(
            2,
            libc::EEXIST,
            Some("Filter already exists"),
        ));
        assert_eq!(
            find_ack(&two, 2),
            Some(Err(Refusal {
                errno: libc::EEXIST,
                message: Some("Filter already exists".into()),
            }))
        );
        assert_eq!(
            find_ack(&two, 1),
            Some(Err(Refusal {
                errno: libc::ENOENT,
                message: None,
            }))
        );
    }

    #[test]
    fn short_or_garbled_answers_are_not_acks() {
        for bytes in [&[][..], &[1, 2, 3], &[0xff; 40]] {
            assert_eq!(find_ack(bytes, 0xffff_ffff), None);
        }
        let mut cut = error_message(9, libc::EINVAL, Some("bad"));
        cut.truncate(HEADER_LEN + 2);
        assert_eq!(find_ack(&cut, 9), None);
    }
}
