//! PREVAIL's YAML verifier test cases, run through visor's verifier (for
//! `visor verify --prevail` and the agreement test over
//! `../shared/verifier/prevail/*.yaml`):
//! each case's pre-state and code are translated into visor's input, and
//! visor's verdict is compared with PREVAIL's (accept exactly when the case
//! expects no `messages`).
//!
//! Translation: PREVAIL's assembly is close to the LLVM syntax; what
//! differs is rewritten line by line (labels in angle brackets, `assume`,
//! `sN=` sign extension, `swapN`/`leN`/`beN`, `ll` suffixes, `map_by_idx`,
//! `lock ... fetch`). `assume C` becomes a jump on `!C` to a block that
//! ends the path. PREVAIL reports branches that can never be taken
//! ("Code becomes unreachable") as messages, so visor's dead branches at
//! translated jumps count as a rejection here (unless the jump goes where
//! falling through would). A disjunction of types in the pre-state is one
//! run per alternative, less those its type equalities (`r2.type=r3.type`)
//! rule out. Stack offsets count up to r10's `stack_offset`. Other
//! pre-state facts visor's state cannot express (relations between
//! registers) are dropped, which only widens the state.
//!
//! The cases run under the kernel's pointer rules for loaders without
//! `CAP_PERFMON` ([`Pointers::Strict`]), the closest to PREVAIL's, in the
//! generic context (`data` and `data_end` at 0 and 4, as PREVAIL's test
//! harness lays it out). A case that names an `expected-exception` is
//! malformed on purpose: it agrees when visor's harness refuses it too.

use std::collections::BTreeMap;

use visor_isa::asm::{Syntax, assemble};
use visor_object::{MapDef, MapType};

use crate::scalar::Scalar;
use crate::state::{PacketBase, Pointer, PtrKind, State, Value, stack_index};
use crate::{Pointers, VerifyEnv, verify_from};

/// One test case, as far as the harness needs it.
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub name: String,
    options: Vec<String>,
    pre: Vec<String>,
    /// Labelled blocks in order.
    code: Vec<(String, Vec<String>)>,
    /// What PREVAIL reports; none means it accepts.
    pub messages: Vec<String>,
    /// Set when PREVAIL's harness is to refuse the case as malformed.
    expected_exception: Option<String>,
    /// Why the case is malformed, when it is.
    malformed: Option<String>,
}

impl Case {
    /// PREVAIL's verdict: accept exactly when it reports nothing.
    pub fn expects_accept(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Visor's verdict on a case beside PREVAIL's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// `accept`, `reject`, `invalid case` or `not translated`.
    pub visor: &'static str,
    /// `accept`, `reject` or `invalid case`.
    pub expected: &'static str,
    /// Visor's diagnostic when it rejects, PREVAIL's first message when
    /// PREVAIL rejects, or why the case could not be run.
    pub reason: String,
}

impl Judgement {
    pub fn agrees(&self) -> bool {
        self.visor == self.expected
    }
}

/// Runs `case` and sets visor's verdict beside the one PREVAIL expects:
/// accept exactly when the case lists no messages, or refusal of the
/// case itself when it names an `expected-exception`.
pub fn judge(case: &Case) -> Judgement {
    let verdict = |accepted: bool| if accepted { "accept" } else { "reject" };
    let expected = if case.expected_exception.is_some() {
        "invalid case"
    } else {
        verdict(case.expects_accept())
    };
    let (visor, reason) = match &case.malformed {
        Some(why) => ("invalid case", why.clone()),
        None => match run_case(case) {
            Ok((true, _)) => ("accept", case.messages.first().cloned().unwrap_or_default()),
            Ok((false, why)) => ("reject", why),
            Err(why) => ("not translated", why),
        },
    };
    Judgement {
        visor,
        expected,
        reason,
    }
}

/// Reads the YAML subset the cases use: `---` documents of top-level keys
/// with a scalar, a flow list (possibly over several lines), a block list,
/// or (for `code`) labelled literal blocks.
pub fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for doc in text.split("\n---") {
        let lines: Vec<&str> = doc.lines().collect();
        let mut case = Case::default();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            if line.starts_with(' ') || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let rest = rest.trim();
            let mut block: Vec<&str> = Vec::new();
            while i < lines.len() && (lines[i].starts_with(' ') || lines[i].trim().is_empty()) {
                block.push(lines[i]);
                i += 1;
            }
            match key {
                "test-case" => case.name = rest.to_string(),
                "expected-exception" => case.expected_exception = Some(unquote(rest)),
                "observe" => case.malformed = check_observe(&block).err(),
                "code" => case.code = parse_code(&block),
                "options" | "pre" | "messages" => {
                    let items = if rest.starts_with('[') {
                        let mut flow = rest.to_string();
                        for more in &block {
                            flow.push(' ');
                            flow.push_str(more.trim());
                        }
                        parse_flow(&flow)
                    } else {
                        block
                            .iter()
                            .filter_map(|l| l.trim().strip_prefix("- "))
                            .map(|s| unquote(s.trim()))
                            .collect()
                    };
                    match key {
                        "options" => case.options = items,
                        "pre" => case.pre = items,
                        _ => case.messages = items,
                    }
                }
                _ => {}
            }
        }
        if !case.name.is_empty() {
            cases.push(case);
        }
    }
    cases
}

/// Checks an `observe` list as PREVAIL's harness reads it: items are
/// maps with a `constraints` sequence and a label `at` that is not
/// negative. Visor does not evaluate observations (assertions about
/// PREVAIL's abstract state); a malformed list makes the case invalid.
fn check_observe(block: &[&str]) -> Result<(), String> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let Some(item_indent) = block
        .iter()
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| indent(l))
    else {
        return Ok(());
    };
    // Each item: its `key: value` lines, the first after its `- `.
    let mut items: Vec<Vec<&str>> = Vec::new();
    for line in block.iter().filter(|l| !l.trim().is_empty()) {
        match line.trim_start().strip_prefix("- ") {
            Some(first) if indent(line) == item_indent => items.push(vec![first]),
            _ => {
                if let Some(item) = items.last_mut() {
                    item.push(line.trim());
                }
            }
        }
    }
    for item in &items {
        let field = |key: &str| {
            item.iter()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(str::trim)
        };
        if !item[0].contains(':') {
            return Err("observe item must be a map".to_string());
        }
        let Some(constraints) = field("constraints") else {
            return Err("observe item missing required 'constraints' field".to_string());
        };
        // A sequence: a flow list, or a block list on the lines below.
        let nested = item.iter().any(|l| l.starts_with("- "));
        if !(constraints.starts_with('[') || constraints.is_empty() && nested) {
            return Err("observe.constraints must be a sequence of strings".to_string());
        }
        if let Some(at) = field("at").map(unquote)
            && at.parse::<i64>().is_ok_and(|label| label < 0)
        {
            return Err(format!("Invalid observation label: {at}"));
        }
    }
    Ok(())
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// `["a", "b", c]` up to the closing bracket.
fn parse_flow(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[');
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut depth = 0;
    for c in inner.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => {
                depth += 1;
                current.push(c);
            }
            ']' if !quoted && depth == 0 => break,
            ']' if !quoted => {
                depth -= 1;
                current.push(c);
            }
            ',' if !quoted => {
                items.push(current.trim().to_string());
                current.clear();
            }
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        items.push(current.trim().to_string());
    }
    items.retain(|s| !s.is_empty());
    items
}

fn parse_code(block: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for line in block {
        let trimmed = line.trim();
        if let (true, Some((label, rest))) = (trimmed.starts_with('<'), trimmed.split_once(">:")) {
            let mut lines = Vec::new();
            let rest = rest
                .trim()
                .trim_start_matches('|')
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            if !rest.is_empty() {
                lines.push(rest.to_string());
            }
            blocks.push((label.trim_matches(['<', '>']).to_string(), lines));
        } else if let Some((_, lines)) = blocks.last_mut() {
            let text = trimmed.split(';').next().unwrap_or("").trim();
            if !text.is_empty() {
                lines.push(text.to_string());
            }
        }
    }
    blocks
}

/// The label name in LLVM syntax.
fn label(name: &str) -> String {
    format!(
        "L_{}",
        name.trim_matches(['<', '>'])
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

/// The value an assumption's sink returns: marks the jump before it.
const ASSUME_MARK: i32 = 0x000a_550e;

/// The comparison that holds when `op` does not.
fn negate(op: &str) -> Option<&'static str> {
    Some(match op {
        "==" => "!=",
        "!=" => "==",
        "<" => ">=",
        ">=" => "<",
        ">" => "<=",
        "<=" => ">",
        "s<" => "s>=",
        "s>=" => "s<",
        "s>" => "s<=",
        "s<=" => "s>",
        "w<" => ">=",
        "w>=" => "<",
        "w>" => "<=",
        "w<=" => ">",
        "w==" => "!=",
        "w!=" => "==",
        _ => return None,
    })
}

/// Word-level rewrites: `<label>` names, `&=` or `&==` as a jump condition (JSET),
/// and 64-bit register names used as operands of 32-bit operations.
fn rewrite_words(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let narrow = words.first().is_some_and(|w| w.starts_with('w'))
        || (words.first() == Some(&"if") && words.get(1).is_some_and(|w| w.starts_with('w')));
    let is_jump = words.first() == Some(&"if");
    words
        .iter()
        .map(|w| {
            if w.len() > 2 && w.starts_with('<') && w.ends_with('>') {
                label(w)
            } else if is_jump && (*w == "&=" || *w == "&==") {
                "&".to_string()
            } else if narrow && w.starts_with('r') && w[1..].parse::<u8>().is_ok() {
                w.replacen('r', "w", 1)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `rN` as `wN`; anything else (an immediate, a `wN`) as it is.
fn narrowed(operand: &str) -> String {
    match operand.strip_prefix('r') {
        Some(n) if n.parse::<u8>().is_ok() => format!("w{n}"),
        _ => operand.to_string(),
    }
}

/// One line of PREVAIL assembly in LLVM syntax, or why not.
fn translate_line(line: &str) -> Result<String, String> {
    // `;` starts a comment (`r1 = swap16 r1 ; 0x654321 -> 0x2143`).
    let line = line.split(';').next().unwrap_or(line).trim_end();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut text = line.to_string();
    if let Some(rest) = line.strip_prefix("assume ") {
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [a, op, b] = parts[..] else {
            return Err(format!("assume form: {line}"));
        };
        negate(op).ok_or(format!("assume operator {op}"))?;
        // `w<` (or a `wN` operand) compares the low halves: both operands
        // become w registers.
        let narrow = op.starts_with('w') || a.starts_with('w');
        let op = op.trim_start_matches('w');
        let (a, b) = if narrow {
            (narrowed(a), narrowed(b))
        } else {
            (a.to_string(), b.to_string())
        };
        // Falls into a sink that ends the path when the assumption fails.
        return Ok(format!("if {a} {op} {b} goto +2\nr0 = {ASSUME_MARK}\nexit"));
    }
    // `r1 = swap16` or `r1 = swap16 r1`: the operand is the destination.
    let byte_ops = [
        "swap16", "swap32", "swap64", "le16", "le32", "le64", "be16", "be32", "be64",
    ];
    if (words.len() == 3 || (words.len() == 4 && words[3] == words[0]))
        && words[1] == "="
        && byte_ops.contains(&words[2])
    {
        let op = words[2].replace("swap", "bswap");
        return Ok(format!("{} = {op} {}", words[0], words[0]));
    }
    if words.len() == 3 && ["s8=", "s16=", "s32="].contains(&words[1]) {
        let bits = words[1].trim_start_matches('s').trim_end_matches('=');
        // A 32-bit destination sign-extends within 32 bits: `w2 = (s8)w1`;
        // from all 32 bits, that is a plain 32-bit move.
        if words[0].starts_with('w') {
            let src = narrowed(words[2]);
            return Ok(if bits == "32" {
                format!("{} = {src}", words[0])
            } else {
                format!("{} = (s{bits}){src}", words[0])
            });
        }
        return Ok(format!("{} = (s{bits}){}", words[0], words[2]));
    }
    let op_word = words
        .len()
        .checked_sub(2)
        .and_then(|i| words.get(i))
        .copied();
    if words.first() == Some(&"lock") && matches!(op_word, Some("x=" | "cx=")) {
        // lock *(u64 *)(r2 + 4) x= r1  ->  r1 = xchg_64(r2 + 4, r1)
        let place = line
            .split_once(")(")
            .map(|(_, p)| p.trim_end_matches(|c| c != ')').trim_end_matches(')'))
            .ok_or("lock form")?;
        let place = place.split(')').next().unwrap_or(place);
        let wide = words[1].contains("u64");
        let reg = |r: &str| {
            if wide {
                r.to_string()
            } else {
                r.replacen('r', "w", 1)
            }
        };
        let src = reg(words[words.len() - 1]);
        let suffix = if wide { "_64" } else { "32_32" };
        return Ok(if op_word == Some("x=") {
            format!("{src} = xchg{suffix}({place}, {src})")
        } else {
            let r0 = reg("r0");
            format!("{r0} = cmpxchg{suffix}({place}, {r0}, {src})")
        });
    }
    if words.first() == Some(&"lock") && words.last() == Some(&"fetch") {
        // lock *(u64 *)(r2 + 4) += r1 fetch
        let body = line
            .trim_start_matches("lock")
            .trim_end_matches("fetch")
            .trim();
        let (place, rest) = body.rsplit_once(' ').ok_or("lock form")?;
        let (place, op) = place.trim().rsplit_once(' ').ok_or("lock form")?;
        let name = match op {
            "+=" => "add",
            "|=" => "or",
            "&=" => "and",
            "^=" => "xor",
            _ => return Err(format!("lock operator {op}")),
        };
        let place = place.trim().trim_start_matches('*');
        let reg = if place.contains("u32") {
            rest.replacen('r', "w", 1)
        } else {
            rest.to_string()
        };
        return Ok(format!("{reg} = atomic_fetch_{name}({place}, {reg})"));
    }
    if text.contains("map_by_idx(") {
        let start = text.find("map_by_idx(").unwrap_or(0);
        let end = text[start..].find(')').map_or(text.len(), |e| start + e);
        let index = &text[start + "map_by_idx(".len()..end];
        if text.contains("mva(") {
            let offset = text.rsplit('+').next().unwrap_or("0").trim();
            let dst = words[0];
            return Ok(format!("{dst} = map[idx:{index}][0]+{offset} ll"));
        }
        text = format!("{} = map[idx:{index}] ll", words[0]);
        return Ok(text);
    }
    if let Some(number) = words.last().and_then(|w| w.strip_suffix("ll"))
        && (number.parse::<i128>().is_ok()
            || number
                .strip_prefix("0x")
                .is_some_and(|hex| u64::from_str_radix(hex, 16).is_ok()))
    {
        text = format!("{} {number} ll", words[..words.len() - 1].join(" "));
    }
    Ok(rewrite_words(&text))
}

fn translate_code(case: &Case) -> Result<String, String> {
    let mut out = String::new();
    let mut last = String::new();
    for (name, lines) in &case.code {
        out.push_str(&format!("{}:\n", label(name)));
        for line in lines {
            let translated = translate_line(line)?;
            out.push_str(&translated);
            out.push('\n');
            last = translated;
        }
    }
    // A fragment may just end: give it an exit.
    if !(last == "exit" || last.starts_with("goto")) {
        out.push_str("r0 = 0\nexit\n");
    }
    Ok(out)
}

/// Parses `N`, `[a, b]`, `-oo`, `+oo`.
fn range(value: &str) -> Option<(i128, i128)> {
    let bound = |s: &str| -> Option<i128> {
        match s.trim() {
            "-oo" => Some(i128::from(i64::MIN)),
            "+oo" => Some(i128::from(u64::MAX)),
            s => s.parse().ok(),
        }
    };
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let (lo, hi) = inner.split_once(',')?;
        Some((bound(lo)?, bound(hi)?))
    } else {
        let v = bound(value)?;
        Some((v, v))
    }
}

/// The pre-state: every fact visor can hold, the others dropped.
fn pre_state(case: &Case, maps: &mut usize) -> Result<State, String> {
    let mut state = State::entry();
    state.set(visor_isa::Reg::R1, Value::Uninit);
    let mut facts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in &case.pre {
        if item.contains(" in {") {
            return Err(format!("disjunction: {item}"));
        }
        let Some((lhs, rhs)) = item.split_once('=') else {
            continue;
        };
        if relation(rhs).is_some() {
            continue;
        }
        let split = if lhs.starts_with("s[") {
            lhs.split_once("].")
                .map(|(name, field)| (format!("{name}]"), field))
        } else {
            lhs.split_once('.')
                .map(|(name, field)| (name.to_string(), field))
        };
        if let Some((reg, field)) = split {
            facts
                .entry(reg)
                .or_default()
                .insert(field.to_string(), rhs.to_string());
        } else {
            facts
                .entry(String::new())
                .or_default()
                .insert(lhs.to_string(), rhs.to_string());
        }
    }
    let global = facts.remove("").unwrap_or_default();
    // Stack offsets count from the bottom of PREVAIL's stack, where r10
    // sits at its `stack_offset`: the frame's top.
    let stack_top = facts
        .get("r10")
        .and_then(|r10| r10.get("stack_offset"))
        .and_then(|v| range(v))
        .filter(|(lo, hi)| lo == hi)
        .map_or(512, |(top, _)| top);
    if let Some((lo, _)) = global.get("packet_size").and_then(|v| range(v)) {
        state.packet_min = lo.max(0) as u64;
    }
    for (name, fields) in &facts {
        if let Some(bytes) = name.strip_prefix("s[") {
            let (lo, hi) = bytes
                .trim_end_matches(']')
                .split_once("...")
                .ok_or("stack range")?;
            let (lo, hi): (usize, usize) = (
                lo.parse().map_err(|_| "stack lo")?,
                hi.parse().map_err(|_| "stack hi")?,
            );
            let constant = fields
                .get("svalue")
                .and_then(|v| range(v))
                .filter(|(a, b)| a == b)
                .map(|(a, _)| a as u64);
            let stack = &mut state.frame_mut().stack;
            let len = hi + 1 - lo;
            let Some(index) = stack_index((lo as i128 - stack_top) as i64, len) else {
                continue;
            };
            match constant {
                Some(c) if len <= 8 => stack.write(index, len, &Value::constant(c)),
                _ => stack.clobber(index, len),
            }
            continue;
        }
        let Some(reg) = name
            .strip_prefix('r')
            .and_then(|n| n.parse::<u8>().ok())
            .and_then(visor_isa::Reg::new)
        else {
            continue;
        };
        let scalar = {
            let mut s = Scalar::UNKNOWN;
            if let Some((lo, hi)) = fields.get("svalue").and_then(|v| range(v)) {
                let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                s = s.with_srange(clamp(lo), clamp(hi)).ok_or("empty svalue")?;
            }
            if let Some((lo, hi)) = fields.get("uvalue").and_then(|v| range(v)) {
                let clamp = |v: i128| v.clamp(0, i128::from(u64::MAX)) as u64;
                s = s.with_urange(clamp(lo), clamp(hi)).ok_or("empty uvalue")?;
            }
            s
        };
        let offset = |field: &str| fields.get(field).and_then(|v| range(v));
        let pointer = |kind, off: Option<(i128, i128)>, base: i128| {
            let off = match off {
                Some((lo, hi)) if lo == hi => Scalar::constant((lo - base) as i64 as u64),
                Some((lo, hi)) => Scalar::srange((lo - base) as i64, (hi - base) as i64),
                None => Scalar::constant(0),
            };
            Value::Ptr(Pointer { kind, off })
        };
        let value = match fields.get("type").map(String::as_str) {
            Some("number") => Value::Scalar(scalar),
            Some("ctx") => pointer(PtrKind::Ctx, offset("ctx_offset"), 0),
            Some("stack") => pointer(
                PtrKind::Stack { frame: 0 },
                offset("stack_offset"),
                stack_top,
            ),
            // `packet_offset=packet_size`: the end of the packet.
            Some("packet")
                if fields.get("packet_offset").map(String::as_str) == Some("packet_size") =>
            {
                Value::Ptr(Pointer::new(PtrKind::PacketEnd, 0))
            }
            Some("packet") => {
                let off = offset("packet_offset");
                match off {
                    Some((lo, hi)) if lo != hi => {
                        state.packet_bases.insert(
                            99,
                            PacketBase {
                                from_data: Scalar::srange(lo as i64, hi as i64),
                                proven: 0,
                            },
                        );
                        Value::Ptr(Pointer::new(PtrKind::Packet { id: 99 }, 0))
                    }
                    _ => pointer(PtrKind::Packet { id: 0 }, off, 0),
                }
            }
            Some("shared") => {
                let size = offset("shared_region_size").map_or(0, |(lo, _)| lo.max(0) as u32);
                // `svalue` is the address itself: one that may be 0 is a
                // pointer not yet checked against null.
                let maybe_null = fields
                    .get("svalue")
                    .and_then(|v| range(v))
                    .is_some_and(|(lo, hi)| lo <= 0 && 0 <= hi);
                let kind = if maybe_null {
                    PtrKind::MemOrNull { size, id: 98 }
                } else {
                    PtrKind::Mem { size }
                };
                pointer(kind, offset("shared_offset"), 0)
            }
            Some("map_fd") | Some("map_fd_programs") => {
                let fd = offset("map_fd").map_or(1, |(lo, _)| lo.max(0) as usize);
                *maps = (*maps).max(fd + 1);
                Value::Ptr(Pointer::new(PtrKind::MapPtr { map: fd }, 0))
            }
            Some(other) => return Err(format!("register type {other}")),
            None => continue,
        };
        state.set(reg, value);
    }
    Ok(state)
}

/// Visor's verdict on one case: `Ok((accepted, why not))`, or why it could
/// not be translated. A pre-state with a disjunction of types
/// (`r1.type in {ctx, packet}`) is one case per alternative: the program
/// is safe when it is safe from each.
fn run_case(case: &Case) -> Result<(bool, String), String> {
    for alternative in alternatives(case) {
        let (accepted, why) = run_alternative(&alternative)?;
        if !accepted {
            return Ok((false, why));
        }
    }
    Ok((true, String::new()))
}

/// `case` with each type disjunction of its pre-state resolved, in every
/// combination.
fn alternatives(case: &Case) -> Vec<Case> {
    let Some(at) = case.pre.iter().position(|p| p.contains(".type in {")) else {
        return if types_agree(case) {
            vec![case.clone()]
        } else {
            Vec::new()
        };
    };
    let item = &case.pre[at];
    let (lhs, rest) = item.split_once(" in {").unwrap_or((item, ""));
    rest.trim_end_matches('}')
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .flat_map(|kind| {
            let mut one = case.clone();
            one.pre[at] = format!("{lhs}={kind}");
            alternatives(&one)
        })
        .collect()
}

/// `rN.field` on the right of a fact: a relation between registers,
/// as `(register, field)`.
fn relation(rhs: &str) -> Option<(&str, &str)> {
    let (reg, field) = rhs.split_once('.')?;
    reg.strip_prefix('r')?.parse::<u8>().ok()?;
    Some((reg, field))
}

/// Whether the pre-state's type equalities (`r2.type=r3.type`) hold for
/// the types it gives.
fn types_agree(case: &Case) -> bool {
    let type_of = |reg: &str| {
        case.pre.iter().find_map(|item| {
            let kind = item.strip_prefix(reg)?.strip_prefix(".type=")?;
            relation(kind).is_none().then_some(kind)
        })
    };
    case.pre.iter().all(|item| {
        let Some((lhs, rhs)) = item.split_once('=') else {
            return true;
        };
        match (lhs.strip_suffix(".type"), relation(rhs)) {
            (Some(a), Some((b, "type"))) => type_of(a) == type_of(b),
            _ => true,
        }
    })
}

fn run_alternative(case: &Case) -> Result<(bool, String), String> {
    let text = translate_code(case)?;
    let program = assemble(&text, Syntax::Llvm).map_err(|e| format!("assembly: {e}"))?;
    let mut map_count = 1;
    let entry = pre_state(case, &mut map_count)?;
    // PREVAIL's cases name maps by descriptor only: the map type follows
    // from what the program does with them.
    let programs_map = case.pre.iter().any(|p| p.contains("map_fd_programs"));
    // `callx rN` calls the helper whose id the pre-state gives rN.
    let ringbuf = program.iter().any(|(_, insn)| {
        let helper = match insn {
            visor_isa::Insn::Call(visor_isa::CallTarget::Helper(id)) => u64::try_from(*id).ok(),
            visor_isa::Insn::CallReg(reg) => match entry.reg(*reg) {
                Value::Scalar(s) => s.as_const(),
                _ => None,
            },
            _ => None,
        };
        helper.is_some_and(|id| (130..=134).contains(&id))
    });
    let map = match (programs_map, ringbuf) {
        (true, _) => MapDef {
            map_type: MapType::ProgArray,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            ..MapDef::default()
        },
        (false, true) => MapDef {
            map_type: MapType::Ringbuf,
            max_entries: 4096,
            ..MapDef::default()
        },
        (false, false) => MapDef {
            map_type: MapType::Array,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            ..MapDef::default()
        },
    };
    let maps = vec![map; map_count];
    let mut env = VerifyEnv::new(None).with_maps(maps);
    env.check_termination = case.options.iter().any(|o| o == "termination");
    env.allow_division_by_zero = !case.options.iter().any(|o| o == "!allow_division_by_zero");
    // PREVAIL keeps pointers from numbers as the kernel does for loaders
    // without `CAP_PERFMON`.
    env.pointers = Pointers::Strict;
    env.budget = 200_000;
    let (result, _) = verify_from(&program, &env, entry, false);
    // An assumption: a jump over `r0 = ASSUME_MARK; exit`.
    let insns: Vec<(usize, visor_isa::Insn)> = program.iter().map(|(pc, i)| (pc, *i)).collect();
    let is_assume = |pc: usize| {
        let at = insns.iter().position(|(p, _)| *p == pc);
        at.and_then(|i| insns.get(i + 1)).is_some_and(|(_, next)| {
            matches!(
                next,
                visor_isa::Insn::Alu {
                    op: visor_isa::AluOp::Mov,
                    src: visor_isa::Source::Imm(ASSUME_MARK),
                    ..
                }
            )
        })
    };
    Ok(match result {
        Ok(findings) => {
            // An assumption that always holds is fine; one that never holds,
            // and any jump with an impossible outcome, PREVAIL reports,
            // unless the jump goes where falling through would: then no
            // code becomes unreachable.
            let to_next = |pc: usize| {
                insns.iter().any(|(p, insn)| {
                    *p == pc && matches!(insn, visor_isa::Insn::Jump { off: 0, .. })
                })
            };
            let dead: Vec<_> = findings
                .dead_branches
                .iter()
                .filter(|&&(pc, taken)| (!is_assume(pc) || taken) && !to_next(pc))
                .collect();
            if dead.is_empty() {
                (true, String::new())
            } else {
                (false, format!("dead branch at {:?}", dead[0]))
            }
        }
        Err(r) => (false, format!("{}: {}", r.category, r.message)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(text: &str) -> Case {
        parse_cases(text).pop().expect("one case")
    }

    #[test]
    fn a_malformed_observe_list_makes_the_case_invalid() {
        let observe = |items: &str| {
            case(&format!(
                "test-case: t\nexpected-exception: x\npre: []\ncode:\n  <start>: |\n    r0 = 0\n    exit\nobserve:\n{items}\n"
            ))
        };
        for items in [
            "  - 1",
            "  - at: exit",
            "  - at: exit\n    constraints: 1",
            "  - at: \"-1\"\n    constraints: []",
        ] {
            let judgement = judge(&observe(items));
            assert_eq!(judgement.visor, "invalid case", "{items}");
            assert!(judgement.agrees());
        }
        let valid = observe("  - at: exit\n    constraints:\n      - r0.svalue=0");
        assert_eq!(judge(&valid).visor, "accept");
        assert!(!judge(&valid).agrees(), "an exception was expected");
    }

    #[test]
    fn type_equalities_drop_the_alternatives_they_rule_out() {
        // r2 - r3 is only allowed between pointers of one kind.
        let text = "test-case: t\npre: [\"r2.type in {packet, stack}\", \"r3.type in {packet, stack}\", \"r2.type=r3.type\", \"r2.packet_offset=4\", \"r3.packet_offset=8\", \"r2.stack_offset=500\", \"r3.stack_offset=504\"]\ncode:\n  <start>: |\n    r3 -= r2\n    r0 = 0\n    exit\n";
        assert_eq!(alternatives(&case(text)).len(), 2);
    }

    #[test]
    fn a_jump_to_the_next_instruction_makes_nothing_unreachable() {
        let text = "test-case: t\npre: []\ncode:\n  <start>: |\n    r0 = 0\n    if r0 != 0 goto <exit>\n  <exit>: |\n    exit\n";
        assert_eq!(judge(&case(text)).visor, "accept");
    }
}
