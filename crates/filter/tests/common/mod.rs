//! What the integration tests share: the reference data in
//! `../shared/filters` (or `$VISOR_SHARED/filters`), and a reader of
//! libpcap's `-d` listings back into instructions.
//!
//! Missing data is not a failure: loaders return `None` after printing why,
//! and the test says it was skipped.

use std::path::{Path, PathBuf};

use visor_isa::cbpf::{AluOp, Ancillary, Insn, JmpCond, Load, LoadX, Op, RetVal, Size, Src};

pub fn filters_dir() -> PathBuf {
    std::env::var_os("VISOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("filters")
}

/// One block of `accept.json`: its name, and its `opt` and `unopt` listings.
pub struct AcceptBlock {
    pub name: String,
    pub listings: Vec<(&'static str, String)>,
}

/// The blocks of `accept.json`, or `None` (with a note) if it is missing.
pub fn accept_blocks() -> Option<Vec<AcceptBlock>> {
    let path = filters_dir().join("accept.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is missing (set VISOR_SHARED)", path.display());
        return None;
    };
    let json: serde_json::Value = serde_json::from_str(&text).expect("accept.json parses");
    let blocks = json.as_array().expect("accept.json is a list");
    Some(
        blocks
            .iter()
            .map(|block| AcceptBlock {
                name: block["name"].as_str().expect("block name").to_owned(),
                listings: ["opt", "unopt"]
                    .into_iter()
                    .filter_map(|field| Some((field, block[field].as_str()?.to_owned())))
                    .collect(),
            })
            .collect(),
    )
}

/// Reads a `-d` listing back into instructions: the inverse of libpcap's
/// `bpf_image` for every line it prints for a valid instruction.
pub fn parse_listing(text: &str) -> Result<Vec<Insn>, String> {
    text.lines()
        .enumerate()
        .map(|(pc, line)| parse_line(line, pc).map_err(|e| format!("line {pc} `{line}`: {e}")))
        .collect()
}

fn parse_line(line: &str, pc: usize) -> Result<Insn, String> {
    let rest = line
        .strip_prefix(&format!("({pc:03}) "))
        .ok_or("no `(nnn) ` prefix with the line's index")?;
    // Conditional jumps end with `jt N\tjf M`, absolute.
    let (body, targets) = match rest.split_once(" jt ") {
        Some((body, targets)) => {
            let (jt, jf) = targets.split_once("\tjf ").ok_or("jt without jf")?;
            let relative = |t: &str| -> Result<u8, String> {
                let t: usize = t.parse().map_err(|_| "bad target")?;
                u8::try_from(t - pc - 1).map_err(|_| "target too far".into())
            };
            (body, Some((relative(jt)?, relative(jf)?)))
        }
        None => (rest, None),
    };
    let (mnemonic, operand) = match body.split_once(' ') {
        Some((m, o)) => (m, o.trim()),
        None => (body, ""),
    };
    let op = match (mnemonic, targets) {
        ("ld" | "ldh" | "ldb", None) => Op::Ld(load(mnemonic, operand)?),
        ("ldx", None) => Op::Ldx(match operand {
            "#pktlen" => LoadX::Len,
            _ => match operand.strip_prefix('#') {
                Some(k) => LoadX::Imm(number(k)?),
                None => LoadX::Mem {
                    slot: slot(operand)?,
                },
            },
        }),
        ("ldxb", None) => {
            let offset = operand
                .strip_prefix("4*([")
                .and_then(|o| o.strip_suffix("]&0xf)"))
                .ok_or("not 4*([k]&0xf)")?;
            Op::Ldx(LoadX::Msh {
                offset: number(offset)?,
            })
        }
        ("st", None) => Op::St {
            slot: slot(operand)?,
        },
        ("stx", None) => Op::Stx {
            slot: slot(operand)?,
        },
        ("neg", None) => Op::Neg,
        ("tax", None) => Op::Tax,
        ("txa", None) => Op::Txa,
        ("ret", None) if operand.is_empty() => Op::Ret(RetVal::A),
        ("ret", None) => Op::Ret(RetVal::K(constant(operand)?)),
        ("ja", None) => {
            let target: u32 = operand.parse().map_err(|_| "bad ja target")?;
            Op::Ja {
                k: target.wrapping_sub(pc as u32 + 1),
            }
        }
        (_, Some((jt, jf))) => {
            let cond = JmpCond::ALL
                .into_iter()
                .find(|c| c.mnemonic() == mnemonic)
                .ok_or("unknown jump")?;
            Op::Jump {
                cond,
                src: source(operand)?,
                jt,
                jf,
            }
        }
        (_, None) => {
            let op = AluOp::ALL
                .into_iter()
                .find(|o| o.mnemonic() == mnemonic)
                .ok_or("unknown mnemonic")?;
            Op::Alu {
                op,
                src: source(operand)?,
            }
        }
    };
    Ok(op.encode())
}

fn load(mnemonic: &str, operand: &str) -> Result<Load, String> {
    let size = match mnemonic {
        "ld" => Size::Word,
        "ldh" => Size::Half,
        _ => Size::Byte,
    };
    if let Some(inner) = operand.strip_prefix('[').and_then(|o| o.strip_suffix(']')) {
        return Ok(match inner.strip_prefix("x + ") {
            Some(offset) => Load::Ind {
                size,
                offset: number(offset)?,
            },
            None => Load::Abs {
                size,
                offset: match Ancillary::ALL.into_iter().find(|a| a.name() == inner) {
                    Some(field) => field.offset(),
                    None => number(inner)?,
                },
            },
        });
    }
    Ok(match operand {
        "#pktlen" => Load::Len,
        _ => match operand.strip_prefix('#') {
            Some(k) => Load::Imm(number(k)?),
            None => Load::Mem {
                slot: slot(operand)?,
            },
        },
    })
}

fn source(operand: &str) -> Result<Src, String> {
    match operand {
        "x" => Ok(Src::X),
        _ => Ok(Src::K(constant(operand)?)),
    }
}

/// `#123` or `#0x7b`.
fn constant(operand: &str) -> Result<u32, String> {
    number(operand.strip_prefix('#').ok_or("constant without #")?)
}

fn slot(operand: &str) -> Result<u32, String> {
    let slot = operand
        .strip_prefix("M[")
        .and_then(|o| o.strip_suffix(']'))
        .ok_or("not M[k]")?;
    number(slot)
}

fn number(text: &str) -> Result<u32, String> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|_| format!("bad number `{text}`"))
}
