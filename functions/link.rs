//! Build script of every function crate (and of the start-up baseline): link the Lambda
//! binary position-dependent (`-no-pie`) on Linux.
//!
//! A position-independent executable makes the dynamic loader apply every relative
//! relocation at start: about 50,000 for a function (vtables, string tables), 1.2 MB of
//! relocation entries read and 0.8 MB of data written page by page, which was a third of a
//! function's start-up. Linked position-dependent, the linker resolves them, and start-up
//! costs about 200 page faults instead of 390 (docs/architecture.md, "Start-up"). The cost:
//! the executable's own code is not at a random address (libraries, stack and heap still
//! are); in a single-use Firecracker sandbox running memory-safe code we take that.
//! `cargo-lambda`'s zig linker accepts the flag for arm64 as the system one does here.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
