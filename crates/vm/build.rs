//! Sets `cfg(native_jit)` where the JIT makes native code: x86-64 hosts,
//! unless `VISOR_NO_JIT` is set. That variable builds the engine as every
//! other host has it (the interpreter only), so that build is compiled
//! and tested here too (`scripts/test`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(native_jit)");
    println!("cargo::rerun-if-env-changed=VISOR_NO_JIT");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    if x86_64 && std::env::var_os("VISOR_NO_JIT").is_none() {
        println!("cargo::rustc-cfg=native_jit");
    }
}
