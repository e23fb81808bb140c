//! Running a loaded program on given input: `BPF_PROG_TEST_RUN`.
//!
//! The kernel builds the program's context from `data` (an `sk_buff` for
//! socket filters and TC programs, an `xdp_buff` for XDP, with the data as
//! the packet from its Ethernet header on), runs the program `repeat` times
//! and reports the last return value, the mean time per run, and the packet
//! and context as the program left them.
//!
//! Which program types take which inputs is the kernel's business (socket
//! filters, TC, XDP, flow dissector, raw tracepoints with `ctx`, tracing,
//! syscall programs and more); an unsupported type fails with `ENOTSUPP`
//! (524) or `EINVAL`.

use std::os::fd::AsFd;

use crate::error::{Buffer, KernelError};
use crate::program::ProgramFd;
use crate::sys::{self, BpfCmd, Command};

/// `BPF_F_TEST_*` flags.
pub mod flags {
    /// Run on the CPU in [`super::TestRun::cpu`] (raw tracepoints).
    pub const RUN_ON_CPU: u32 = 1 << 0;
    /// XDP: send the frames for real (needs `batch_size`).
    pub const XDP_LIVE_FRAMES: u32 = 1 << 1;
    /// TC: hand the packet to the kernel's checksum code (Linux 6.12).
    pub const SKB_CHECKSUM_COMPLETE: u32 = 1 << 2;
}

/// The input of one test run.
#[derive(Clone, Debug, Default)]
pub struct TestRun<'a> {
    /// The packet (or, for types without one, empty).
    pub data: &'a [u8],
    /// The context the program sees (`__sk_buff`, `xdp_md`, raw tracepoint
    /// arguments); `None` lets the kernel build a default one.
    pub ctx: Option<&'a [u8]>,
    /// Runs; 0 and 1 both mean one.
    pub repeat: u32,
    /// Bytes to read back of the packet as the program left it; 0 for none.
    /// An XDP program may grow the packet by up to 256 bytes of headroom.
    pub data_out_size: usize,
    /// Bytes to read back of the context; 0 for none.
    pub ctx_out_size: usize,
    /// [`flags`], ORed.
    pub flags: u32,
    /// With [`flags::RUN_ON_CPU`].
    pub cpu: u32,
    /// With [`flags::XDP_LIVE_FRAMES`].
    pub batch_size: u32,
}

impl<'a> TestRun<'a> {
    /// One run on `data`, reading nothing back.
    pub fn new(data: &'a [u8]) -> Self {
        TestRun {
            data,
            ..TestRun::default()
        }
    }
}

/// What a test run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value (the low 32 bits of `r0`).
    pub retval: u32,
    /// Mean nanoseconds per run, as the kernel measured it.
    pub duration_ns: u32,
    /// The packet after the run, `data_out_size` bytes at most.
    pub data_out: Vec<u8>,
    /// The context after the run, `ctx_out_size` bytes at most.
    pub ctx_out: Vec<u8>,
}

impl ProgramFd {
    /// Runs the program in the kernel on `run`'s input.
    pub fn test_run(&self, run: &TestRun<'_>) -> Result<TestRunResult, KernelError> {
        let mut data_out = vec![0; run.data_out_size];
        let mut ctx_out = vec![0; run.ctx_out_size];
        let mut command = Command::ProgTestRun {
            prog: self.as_fd(),
            data_in: run.data,
            data_out: &mut data_out,
            ctx_in: run.ctx.unwrap_or_default(),
            ctx_out: &mut ctx_out,
            repeat: run.repeat,
            flags: run.flags,
            cpu: run.cpu,
            batch_size: run.batch_size,
            retval: 0,
            duration: 0,
            data_size_out: 0,
            ctx_size_out: 0,
        };
        let result = sys::bpf(&mut command);
        let Command::ProgTestRun {
            retval,
            duration,
            data_size_out,
            ctx_size_out,
            ..
        } = command
        else {
            unreachable!("the command is the one built above");
        };
        if let Err(source) = result {
            // ENOSPC: the output did not fit; the sizes say how much there was.
            if source.raw_os_error() == Some(libc::ENOSPC) {
                let (what, needed, given) = if data_size_out as usize > run.data_out_size {
                    (Buffer::Data, data_size_out, run.data_out_size)
                } else {
                    (Buffer::Context, ctx_size_out, run.ctx_out_size)
                };
                return Err(KernelError::TestRunOutput {
                    what,
                    needed,
                    given,
                });
            }
            let what = format!(
                "test run of program `{}` ({})",
                self.name(),
                self.program_type()
            );
            return Err(KernelError::syscall(BpfCmd::ProgTestRun, what, source));
        }
        data_out.truncate(data_size_out as usize);
        ctx_out.truncate(ctx_size_out as usize);
        Ok(TestRunResult {
            retval,
            duration_ns: duration,
            data_out,
            ctx_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake;
    use crate::types::ProgramType;

    fn fake_program() -> ProgramFd {
        let fd = std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        ProgramFd::from_info(fd, "fake".to_owned(), ProgramType::Xdp)
    }

    #[test]
    fn outputs_come_back_cut_to_what_the_kernel_wrote() {
        let prog = fake_program();
        let _door = fake::install(|command| match command {
            Command::ProgTestRun {
                data_in,
                data_out,
                ctx_out,
                repeat,
                retval,
                duration,
                data_size_out,
                ctx_size_out,
                ..
            } => {
                assert_eq!(*repeat, 3);
                assert!(ctx_out.is_empty());
                data_out[..data_in.len()].copy_from_slice(data_in);
                *retval = 2;
                *duration = 40;
                *data_size_out = data_in.len() as u32;
                *ctx_size_out = 0;
                Ok(0)
            }
            other => panic!("unexpected {other:?}"),
        });
        let result = prog
            .test_run(&TestRun {
                repeat: 3,
                data_out_size: 64,
                ..TestRun::new(&[1, 2, 3])
            })
            .unwrap();
        assert_eq!(
            result,
            TestRunResult {
                retval: 2,
                duration_ns: 40,
                data_out: vec![1, 2, 3],
                ctx_out: vec![],
            }
        );
    }

    #[test]
    fn enospc_says_how_much_output_there_was() {
        let prog = fake_program();
        let _door = fake::install(|command| match command {
            Command::ProgTestRun { data_size_out, .. } => {
                *data_size_out = 100;
                fake::errno(libc::ENOSPC)
            }
            other => panic!("unexpected {other:?}"),
        });
        let err = prog
            .test_run(&TestRun {
                data_out_size: 10,
                ..TestRun::new(&[0; 100])
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                KernelError::TestRunOutput {
                    what: Buffer::Data,
                    needed: 100,
                    given: 10
                }
            ),
            "{err:?}"
        );
    }
}
