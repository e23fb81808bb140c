//! BCC's conventions over visor's restricted C. BCC programs name their
//! hooks by function name (`tracepoint__syscalls__sys_enter_clone`) and
//! need no includes or license; libbpf-style objects name them by ELF
//! section. The prelude bridges the two: it is `-include`d before the
//! source, brings in visor's helpers, and declares each BCC-named function
//! with the section its name implies (a declaration's `section` attribute
//! carries to the definition that follows), so the object that comes out
//! is an ordinary one that every visor tool reads.

/// The section a BCC-style function name implies, if it is one.
pub fn section_for(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("tracepoint__") {
        let (category, event) = rest.split_once("__")?;
        return (!category.is_empty() && !event.is_empty())
            .then(|| format!("tracepoint/{category}/{event}"));
    }
    let prefixes = [
        ("raw_tracepoint__", "raw_tracepoint"),
        ("kretprobe__", "kretprobe"),
        ("kprobe__", "kprobe"),
    ];
    prefixes.iter().find_map(|(prefix, section)| {
        let target = name.strip_prefix(prefix)?;
        (!target.is_empty()).then(|| format!("{section}/{target}"))
    })
}

/// The prelude for `source`: visor's helpers, a section for each
/// BCC-named function it calls or defines, and a GPL license unless the
/// source declares one (BCC's default, which GPL-only helpers such as
/// `bpf_trace_printk` need).
pub fn prelude(source: &str) -> String {
    let mut text = String::from("#include <visor/bpf_helpers.h>\n");
    let mut seen = Vec::new();
    for name in called_names(source) {
        if let Some(section) = section_for(name)
            && !seen.contains(&name)
        {
            seen.push(name);
            // No prototype: compatible with whatever parameters the
            // definition has.
            text.push_str(&format!("int {name}() SEC(\"{section}\");\n"));
        }
    }
    if !source.contains("SEC(\"license\")") && !source.contains("BPF_LICENSE(") {
        text.push_str("char __visor_license[] SEC(\"license\") = \"GPL\";\n");
    }
    text
}

/// Identifiers followed by `(`: the functions a source defines or calls.
fn called_names(source: &str) -> impl Iterator<Item = &str> {
    let bytes = source.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident(bytes[i]) || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let after = source[i..].trim_start();
        if after.starts_with('(') {
            names.push(&source[start..i]);
        }
    }
    names.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_sections() {
        assert_eq!(
            section_for("tracepoint__syscalls__sys_enter_clone").as_deref(),
            Some("tracepoint/syscalls/sys_enter_clone")
        );
        assert_eq!(
            section_for("raw_tracepoint__sched_switch").as_deref(),
            Some("raw_tracepoint/sched_switch")
        );
        assert_eq!(
            section_for("kretprobe__do_sys_open").as_deref(),
            Some("kretprobe/do_sys_open")
        );
        assert_eq!(section_for("kprobe__").as_deref(), None);
        assert_eq!(section_for("tracepoint__syscalls").as_deref(), None);
        assert_eq!(section_for("count_events").as_deref(), None);
    }

    #[test]
    fn the_prelude_declares_each_function_once_and_a_license() {
        let source = "int tracepoint__sched__sched_switch (void *ctx) { return 0; }\n\
                      int other(void) { return tracepoint__sched__sched_switch(0); }";
        let text = prelude(source);
        assert_eq!(
            text,
            "#include <visor/bpf_helpers.h>\n\
             int tracepoint__sched__sched_switch() SEC(\"tracepoint/sched/sched_switch\");\n\
             char __visor_license[] SEC(\"license\") = \"GPL\";\n"
        );
        let licensed = prelude("BPF_LICENSE(\"Dual BSD/GPL\");");
        assert!(!licensed.contains("__visor_license"));
    }
}
