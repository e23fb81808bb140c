//! One test per rule, on small assembly programs.

use crate::{Category, Pointers, VerifyEnv, verify};
use visor_isa::asm::{Syntax, assemble};
use visor_object::{MapDef, MapType, ProgramType};

fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..MapDef::default()
    }
}

fn env(program_type: ProgramType) -> VerifyEnv {
    VerifyEnv::for_type(program_type).with_maps(vec![
        map(MapType::Hash, 4, 8, 16),
        map(MapType::Array, 4, 4, 1),
        map(MapType::Ringbuf, 0, 0, 4096),
        map(MapType::ProgArray, 4, 4, 4),
    ])
}

#[track_caller]
fn check(text: &str, program_type: ProgramType) -> Result<(), Category> {
    let program = assemble(text, Syntax::Llvm).expect("test program assembles");
    verify(&program, &env(program_type))
        .map(|_| ())
        .map_err(|r| {
            eprintln!("{r}");
            r.category
        })
}

#[track_caller]
fn accepts(text: &str) {
    assert_eq!(check(text, ProgramType::Xdp), Ok(()));
}

#[track_caller]
fn rejects(text: &str, category: Category) {
    assert_eq!(check(text, ProgramType::Xdp), Err(category));
}

const LOOKUP: &str =
    "r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = map[idx:0] ll\ncall 1\n";

#[test]
fn registers_must_be_written_before_read() {
    rejects("r0 = r2\nexit", Category::UninitRegister);
    rejects("exit", Category::UninitRegister);
    accepts("r0 = 0\nexit");
}

#[test]
fn the_frame_pointer_is_read_only() {
    rejects("r10 = 0\nr0 = 0\nexit", Category::FramePointerWrite);
}

#[test]
fn stack_reads_need_initialised_bytes_and_stay_in_the_frame() {
    rejects("r0 = *(u64 *)(r10 - 8)\nexit", Category::UninitStack);
    rejects(
        "*(u64 *)(r10 - 520) = 1\nr0 = 0\nexit",
        Category::OutOfBounds,
    );
    rejects("*(u64 *)(r10 + 0) = 1\nr0 = 0\nexit", Category::OutOfBounds);
    accepts("*(u32 *)(r10 - 8) = 7\nr0 = *(u32 *)(r10 - 8)\nexit");
}

#[test]
fn spilled_pointers_fill_back() {
    accepts("*(u64 *)(r10 - 8) = r1\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r2 + 12)\nexit");
}

#[test]
fn map_lookups_must_be_null_checked() {
    rejects(
        &format!("{LOOKUP}r0 = *(u64 *)(r0 + 0)\nexit"),
        Category::NullPointer,
    );
    accepts(&format!(
        "{LOOKUP}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit"
    ));
    rejects(
        &format!("{LOOKUP}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 4)\nr0 = 0\nexit"),
        Category::OutOfBounds,
    );
}

#[test]
fn copies_of_a_checked_pointer_are_checked_too() {
    accepts(&format!(
        "{LOOKUP}r6 = r0\nif r0 == 0 goto +1\nr0 = *(u64 *)(r6 + 0)\nr0 = 0\nexit"
    ));
}

#[test]
fn packet_access_needs_a_bounds_check() {
    let load = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n";
    rejects(
        &format!("{load}r0 = *(u8 *)(r2 + 0)\nexit"),
        Category::PacketBounds,
    );
    accepts(&format!(
        "{load}r4 = r2\nr4 += 14\nif r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 13)\nr0 = 0\nexit"
    ));
    rejects(
        &format!(
            "{load}r4 = r2\nr4 += 14\nif r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 14)\nr0 = 0\nexit"
        ),
        Category::PacketBounds,
    );
}

#[test]
fn pointer_arithmetic_rules() {
    rejects(
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr2 += r3\nr0 = 0\nexit",
        Category::PointerArithmetic,
    );
    rejects(
        "r1 = map[idx:0] ll\nr1 += 8\nr0 = 0\nexit",
        Category::PointerArithmetic,
    );
    rejects("r1 &= 7\nr0 = 0\nexit", Category::PointerArithmetic);
    rejects(
        "r0 = 5\nr0 = *(u32 *)(r0 + 0)\nexit",
        Category::InvalidMemoryAccess,
    );
    rejects(
        "r2 = *(u32 *)(r1 + 0)\nw2 += 4\nr0 = 0\nexit",
        Category::PointerArithmetic,
    );
    // 32-bit differences (lengths) give numbers, as for privileged loaders.
    accepts(
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nw3 -= w2\nw4 = 9\nw4 -= w2\nw2 -= 1\nr0 = 0\nexit",
    );
}

#[test]
fn sockets_from_lookups_are_checked_for_null_and_read_only() {
    let lookup = "r2 = 0\n*(u64 *)(r10 - 8) = r2\n*(u64 *)(r10 - 16) = r2\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = -1\nr5 = 0\ncall 99\n";
    accepts(&format!(
        "{lookup}if r0 == 0 goto +3\nr1 = *(u32 *)(r0 + 72)\nr1 = r0\ncall 86\nr0 = 2\nexit"
    ));
    rejects(
        &format!("{lookup}r1 = *(u32 *)(r0 + 72)\nr0 = 2\nexit"),
        Category::NullPointer,
    );
    rejects(
        &format!("{lookup}r1 = r0\ncall 86\nr0 = 2\nexit"),
        Category::NullPointer,
    );
    rejects(
        &format!("{lookup}if r0 == 0 goto +1\n*(u32 *)(r0 + 72) = 1\nr0 = 2\nexit"),
        Category::InvalidMemoryAccess,
    );
}

#[test]
fn values_no_explored_path_decided_on_do_not_stop_pruning() {
    // r8 would reach the exit value through 8, but no path goes there
    // (r9 is 0): the second path to 4, with another r8, is pruned.
    let text = "r7 = *(u32 *)(r1 + 16)\nr8 = 0\nif r7 > 5 goto +1\nr8 = 1\nr9 = 0\nif r9 != 0 goto +2\nr0 = 0\nexit\nr0 = r8\nexit";
    let program = assemble(text, Syntax::Llvm).unwrap();
    let stats = verify(&program, &env(ProgramType::Xdp)).unwrap();
    assert_eq!(stats.pruned, 1);
    // Where r8 does decide the exit, both paths are walked.
    let text = text.replace("r9 = 0\n", "r9 = 1\n");
    let stats = verify(
        &assemble(&text, Syntax::Llvm).unwrap(),
        &env(ProgramType::Xdp),
    )
    .unwrap();
    assert_eq!(stats.pruned, 0);
}

#[test]
fn callx_calls_the_helper_whose_id_it_holds() {
    accepts("r8 = 5\ncallx r8\nexit");
    rejects(
        "r1 = 0\nr2 = 0\nr8 = 1\ncallx r8\nexit",
        Category::HelperArgument,
    );
    rejects(
        "r8 = *(u32 *)(r1 + 0)\ncallx r8\nr0 = 0\nexit",
        Category::Unsupported,
    );
}

#[test]
fn frozen_read_only_data_is_known() {
    // The header length comes from `.rodata`: 14, so the comparison proves
    // 14 bytes, as in the kernel; unfrozen, it could be 0.
    let text = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = map[idx:4][0]+0 ll\nr4 = *(u8 *)(r4 + 0)\nr5 = r2\nr5 += r4\nif r5 > r3 goto +2\nr0 = *(u8 *)(r2 + 13)\nexit\nr0 = 0\nexit";
    let program = assemble(text, Syntax::Llvm).unwrap();
    let mut env = env(ProgramType::Xdp);
    env.maps.push(MapDef {
        flags: visor_object::maps::BPF_F_RDONLY_PROG,
        ..map(MapType::Array, 4, 8, 1)
    });
    let rejection = verify(&program, &env).unwrap_err();
    assert_eq!(rejection.category, Category::PacketBounds);
    env.frozen_contents = vec![None, None, None, None, Some(vec![14; 8])];
    assert!(verify(&program, &env).is_ok());
}

#[test]
fn context_fields_follow_the_program_type() {
    rejects("r0 = *(u32 *)(r1 + 24)\nexit", Category::ContextAccess);
    rejects(
        "*(u32 *)(r1 + 12) = 0\nr0 = 0\nexit",
        Category::ContextAccess,
    );
    assert_eq!(
        check("r0 = *(u32 *)(r1 + 76)\nexit", ProgramType::SocketFilter),
        Err(Category::ContextAccess)
    );
    assert_eq!(
        check("r0 = *(u32 *)(r1 + 0)\nexit", ProgramType::SocketFilter),
        Ok(())
    );
}

#[test]
fn helpers_check_their_arguments() {
    rejects("call 9999\nexit", Category::UnknownHelper);
    rejects(
        "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\ncall 53\nexit",
        Category::HelperNotAllowed,
    );
    // bpf_get_current_comm into 1 byte of stack, size 20.
    rejects(
        "r1 = r10\nr1 += -1\nr2 = 20\ncall 16\nexit",
        Category::OutOfBounds,
    );
    // bpf_ringbuf_output of uninitialised stack.
    rejects(
        "r1 = map[idx:2] ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall 130\nexit",
        Category::UninitStack,
    );
    // bpf_tail_call with an array instead of a program array.
    rejects(
        "r2 = map[idx:1] ll\nr3 = 0\ncall 12\nexit",
        Category::HelperArgument,
    );
    accepts("r2 = map[idx:3] ll\nr3 = 0\ncall 12\nr0 = 0\nexit");
}

#[test]
fn pointers_must_not_leak() {
    rejects(
        "*(u64 *)(r10 - 8) = r1\nr1 = map[idx:0] ll\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -8\nr4 = 0\ncall 2\nexit",
        Category::PointerLeak,
    );
    rejects("r0 = r1\nexit", Category::PointerLeak);
}

#[test]
fn array_keys_are_range_checked() {
    // An update of array map #1 (one entry) at key 10 can never succeed.
    rejects(
        "r1 = 10\n*(u32 *)(r10 - 4) = r1\n*(u32 *)(r10 - 8) = r1\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -8\nr4 = 0\nr1 = map[idx:1] ll\ncall 2\nr0 = 0\nexit",
        Category::MapKeyOutOfRange,
    );
}

#[test]
fn helpers_that_move_the_packet_invalidate_packet_pointers() {
    let tc =
        "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 4\nif r4 > r3 goto +4\n";
    let pull = "r6 = r2\nr2 = 0\ncall 39\nr0 = *(u8 *)(r6 + 0)\n";
    assert_eq!(
        check(&format!("{tc}{pull}r0 = 0\nexit"), ProgramType::SchedCls),
        Err(Category::InvalidMemoryAccess)
    );
}

#[test]
fn loops_must_terminate() {
    rejects("l: goto l", Category::Termination);
    rejects(
        "r0 = 0\nl: r0 += 1\nif r0 != 0 goto l\nexit",
        Category::Termination,
    );
    accepts("r0 = 0\nl: r0 += 1\nif r0 < 10 goto l\nexit");
}

#[test]
fn counted_loops_cost_the_same_whatever_their_trip_count() {
    let processed = |laps: u32| {
        let text = format!(
            "*(u64 *)(r10 - 8) = 0\nr1 = 0\nr0 = 0\nl: r2 = r1\nr2 &= 7\nr3 = r10\nr3 += -8\nr3 += r2\nr4 = *(u8 *)(r3 + 0)\nr0 += r4\nr1 += 1\nif r1 < {laps} goto l\nr0 = 0\nexit"
        );
        let program = assemble(&text, Syntax::Llvm).expect("test program assembles");
        let findings = verify(&program, &env(ProgramType::Xdp)).expect("accepted");
        findings.insns_processed
    };
    assert_eq!(processed(100), processed(50_000));
    // A counted loop inside a loop that never ends does not hide it.
    rejects(
        "r6 = 0\nouter: r1 = 0\ninner: r1 += 1\nif r1 < 10 goto inner\ngoto outer",
        Category::Termination,
    );
    // Entered again with a new start, a loop starts over: here the
    // second entry reads fp-13, never written.
    rejects(
        "*(u64 *)(r10 - 8) = 0\nr7 = 0\nr8 = 5\nouter: r1 = r8\ninner: r2 = r10\nr2 += -13\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nr1 += 1\nif r1 < 13 goto inner\nr8 = 0\nr7 += 1\nif r7 < 2 goto outer\nr0 = 0\nexit",
        Category::UninitStack,
    );
    // Laps the kernel could not have walked are not widened either.
    rejects(
        "r1 = 0\nl: r1 += 1\nif r1 < 10000000 goto l\nr0 = 0\nexit",
        Category::Termination,
    );
}

#[test]
fn a_rejection_after_widening_is_decided_again_by_unrolling() {
    // Widened, r6 could be anything after the loop; unrolled, it is 8.
    accepts(
        "r1 = 0\nr6 = 0\nl: r6 += 1\nr1 += 1\nif r1 < 8 goto l\n*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 8) = 0\nr3 = r10\nr3 += -16\nr3 += r6\nr0 = *(u8 *)(r3 + 0)\nr0 = 0\nexit",
    );
}

#[test]
fn a_pointers_low_half_may_be_zero() {
    // Found by the soundness test: a 32-bit comparison is no null check.
    rejects(
        "r4 = 0\nif w4 != w1 goto +1\nr0 = *(u8 *)(r10 - 513)\nr0 = 0\nexit",
        Category::OutOfBounds,
    );
}

#[test]
fn both_branches_are_refined() {
    // r0 in [0, 255]; after `if r0 > 7` the fall-through keeps 0..=7,
    // so a stack index derived from it stays inside 8 bytes.
    accepts(
        "*(u64 *)(r10 - 8) = 0\nr0 = *(u8 *)(r10 - 8)\nif r0 > 7 goto +4\nr1 = r10\nr1 += -8\nr1 += r0\nr0 = *(u8 *)(r1 + 0)\nr0 = 0\nexit",
    );
}

#[test]
fn local_calls_get_a_frame() {
    accepts("r1 = 1\ncall pc+1\nexit\nr0 = r1\nexit");
    rejects("call pc+1\nexit\nr0 = r6\nexit", Category::UninitRegister);
}

#[test]
fn a_function_may_return_nothing_if_its_caller_does_not_read_it() {
    // As the kernel: only the caller's read of the unset r0 is an error.
    accepts("r6 = 0\ncall pc+2\nr0 = 0\nexit\nr6 = 1\nexit");
    rejects("call pc+1\nexit\nexit", Category::UninitRegister);
}

#[test]
fn strict_pointer_rules_are_the_kernels_without_cap_perfmon() {
    let strict = |text: &str| {
        let program = assemble(text, Syntax::Llvm).expect("test program assembles");
        let env = VerifyEnv {
            pointers: Pointers::Strict,
            ..env(ProgramType::Xdp)
        };
        verify(&program, &env).map(|_| ()).map_err(|r| r.category)
    };
    let packet = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n";
    // Allowed to privileged loaders, visor's default.
    for body in ["w4 = w2\n", "r3 -= r2\n", "if r1 > r10 goto +0\n"] {
        let text = format!("{packet}{body}r0 = 0\nexit");
        assert_eq!(check(&text, ProgramType::Xdp), Ok(()), "{body}");
        assert_eq!(strict(&text), Err(Category::PointerLeak), "{body}");
    }
    // Null checks and packet bounds stay.
    let bounds = format!(
        "{packet}r4 = r2\nr4 += 4\nif r4 > r3 goto +1\nr0 = *(u32 *)(r2 + 0)\nr0 = 2\nexit"
    );
    assert_eq!(strict(&bounds), Ok(()));
    assert_eq!(
        strict(&format!(
            "{LOOKUP}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr0 = 2\nexit"
        )),
        Ok(())
    );
}

#[test]
fn return_values_follow_the_program_type() {
    assert_eq!(
        check("r0 = 2\nexit", ProgramType::CgroupSkb),
        Err(Category::ReturnValue)
    );
    assert_eq!(check("r0 = 1\nexit", ProgramType::CgroupSkb), Ok(()));
}

/// Verifies `text` as visor-vm runs a program on a buffer (r1 = the
/// buffer, r2 = its length); the slots whose every access was to the
/// buffer, or the rejection's category.
#[track_caller]
fn on_buffer(text: &str) -> Result<Vec<usize>, Category> {
    let program = assemble(text, Syntax::Llvm).expect("test program assembles");
    let entry = crate::state::State::buffer_entry();
    let (result, _) = crate::verify_from(&program, &VerifyEnv::new(None), entry, false);
    let findings = result.map_err(|r| {
        eprintln!("{r}");
        r.category
    })?;
    let packet = findings.reached.iter().filter(|(_, r)| r.packet_only());
    Ok(packet.map(|(pc, _)| *pc).collect())
}

#[test]
fn a_buffer_s_length_proves_its_bytes_present() {
    // Compared with a number, as `if (len < 16) return 0;` compiles.
    let compared = "r0 = 0\nif r2 < 16 goto +2\nr0 = *(u64 *)(r1 + 8)\n*(u64 *)(r1 + 0) = r0\nexit";
    assert_eq!(on_buffer(compared), Ok(vec![2, 3]));
    // A copy of the length is the length; signed comparisons too.
    let copied = "r0 = 0\nr3 = r2\nif r3 s< 4 goto +1\nr0 = *(u32 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(copied), Ok(vec![3]));
    // `data + len` is `data_end`.
    let end = "r0 = 0\nr2 += r1\nr3 = r1\nr3 += 2\nif r3 > r2 goto +1\nr0 = *(u16 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(end), Ok(vec![5]));
    // A loop over the buffer, once its length is checked.
    let looped = "r0 = 0\nif r2 < 64 goto +5\nr3 = 0\nr4 = *(u64 *)(r1 + 0)\nr1 += 8\nr3 += 1\nif r3 != 8 goto -4\nexit";
    assert_eq!(on_buffer(looped), Ok(vec![3]));
}

#[test]
fn a_changed_length_proves_nothing() {
    let unchecked = "r0 = *(u8 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(unchecked), Err(Category::PacketBounds));
    let too_short = "r0 = 0\nif r2 < 3 goto +1\nr0 = *(u32 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(too_short), Err(Category::PacketBounds));
    let changed = "r0 = 0\nr2 += 0\nif r2 < 8 goto +1\nr0 = *(u8 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(changed), Err(Category::PacketBounds));
    let overwritten = "r0 = 0\nr3 = r2\nr3 = 100\nif r3 < 8 goto +1\nr0 = *(u8 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(overwritten), Err(Category::PacketBounds));
    // The other way round: the branch where the length is short.
    let inverted = "r0 = 0\nif r2 >= 8 goto +1\nr0 = *(u8 *)(r1 + 0)\nexit";
    assert_eq!(on_buffer(inverted), Err(Category::PacketBounds));
}
