//! The pcap filter language (pcap-filter(7)) compiled to classic BPF,
//! instruction for instruction as libpcap master does it.
//!
//! The pipeline, one module each:
//!
//! - [`lex`]: tokens with spans (libpcap's `scanner.l`);
//! - [`parse`]: the grammar, to an [`ast::Expr`] with qualifiers resolved;
//! - [`names`]: hosts, ethers, networks, services and protocols, from files;
//! - [`linktype`]: where each link type puts the fields tested;
//! - `codegen`: code generation into a [`blocks::Blocks`] graph;
//! - `optimize`: libpcap's optimizer over that graph ([`Optimize::On`]);
//! - [`blocks`]: the graph's backpatching and its layout into instructions.
//!
//! Done: everything libpcap's `gencode.c` generates for the link types in
//! [`LinkType::ALL`], and its optimizer (see the `optimize` module for
//! what it leaves out). Not done: `batadv`, the
//! Juniper types other than `JUNIPER_MFR`, ERF.
//!
//! ```
//! use visor_filter::compile::{compile, CompileOptions, LinkType};
//! use visor_isa::cbpf::{Format, Listing};
//! let opts = CompileOptions::new(LinkType::EN10MB);
//! let program = compile("ip", &opts)?;
//! assert_eq!(
//!     Listing::new(&program, Format::Image).to_string(),
//!     "(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n\
//!      (002) ret      #262144\n(003) ret      #0\n"
//! );
//! # Ok::<(), visor_filter::compile::CompileError>(())
//! ```

pub mod ast;
pub mod blocks;
mod codegen;
pub mod lex;
pub mod linktype;
pub mod names;
mod optimize;
pub mod parse;

use thiserror::Error;
use visor_isa::cbpf::Insn;

pub use lex::Span;
pub use linktype::LinkType;
pub use names::{NameDb, NameFiles};

/// Why an expression does not compile. Messages follow libpcap's where it
/// has one; spans are byte offsets in the expression.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("can't parse filter expression: syntax error at {}..{}{}", span.start, span.end, found)]
    Syntax { span: Span, found: String },
    #[error("{message} (at {}..{})", span.start, span.end)]
    Lex { span: Span, message: String },
    #[error("{message} (at {}..{})", span.start, span.end)]
    Semantic { span: Span, message: String },
    #[error("expression nested too deeply (at {}..{}); at most 200 levels", span.start, span.end)]
    TooDeep { span: Span },
    #[error("expression too complex to compile")]
    TooComplex,
    #[error("snaplen of 0 rejects all packets")]
    ZeroSnaplen,
    #[error("expression rejects all packets")]
    RejectsAll,
    #[error("division by zero")]
    DivisionByZero,
    #[error("modulus by zero")]
    ModulusByZero,
    #[error("shift by more than 31 bits")]
    ShiftTooFar,
}

impl CompileError {
    /// A syntax error at `span` of `text` (which names what was found).
    pub fn syntax(span: Span, text: &str) -> CompileError {
        let found = match text.get(span.start..span.end) {
            _ if span.start >= text.len() && !text.is_empty() => {
                ": unexpected end of expression".to_owned()
            }
            Some(t) if !t.is_empty() => format!(": unexpected '{t}'"),
            _ => String::new(),
        };
        CompileError::Syntax { span, found }
    }

    /// Where in the expression the error is, if it is about one place.
    pub fn span(&self) -> Option<Span> {
        match self {
            CompileError::Syntax { span, .. }
            | CompileError::Lex { span, .. }
            | CompileError::Semantic { span, .. }
            | CompileError::TooDeep { span } => Some(*span),
            _ => None,
        }
    }
}

/// Byte order of a savefile relative to this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    Native,
    Swapped,
}

/// What the filter will run on; some primitives depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capture {
    /// No capture (`pcap_open_dead`): the default.
    Dead,
    /// A savefile of the given byte order (DLT_NULL's address family is in
    /// the writer's byte order; IPv6 has three values).
    Savefile(ByteOrder),
    /// A live Linux capture: the kernel's BPF extensions are available
    /// (`vlan` metadata, `ifindex`, `inbound`).
    LinuxLive,
}

/// Whether to optimize.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Optimize {
    Off,
    On,
}

/// Everything `pcap_compile` takes besides the expression.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub linktype: LinkType,
    /// Returned for accepted packets (default 262144).
    pub snaplen: u32,
    /// The IPv4 netmask, for `ip broadcast`; `None` when unknown (as is
    /// 255.255.255.255, libpcap's `PCAP_NETMASK_UNKNOWN`).
    pub netmask: Option<u32>,
    pub capture: Capture,
    pub optimize: Optimize,
    pub names: NameDb,
}

impl CompileOptions {
    /// Defaults for `linktype`: snaplen 262144, unknown netmask, no
    /// capture, optimizer off, the system's name databases.
    pub fn new(linktype: LinkType) -> CompileOptions {
        CompileOptions {
            linktype,
            snaplen: 262_144,
            netmask: None,
            capture: Capture::Dead,
            optimize: Optimize::Off,
            names: NameDb::system(),
        }
    }
}

/// Compiles `expr` (an empty one accepts every packet).
pub fn compile(expr: &str, opts: &CompileOptions) -> Result<Vec<Insn>, CompileError> {
    if opts.snaplen == 0 {
        return Err(CompileError::ZeroSnaplen);
    }
    let ast = parse::parse(expr)?;
    let mut generator = codegen::Gen::new(opts);
    if opts.optimize == Optimize::On {
        generator.g.optimize_on_layout();
    }
    generator.program(ast.as_ref())
}
