//! Links the Lambda binary (`bootstrap`) as a position-dependent executable, as Go links its binaries by
//! default. The dynamic loader then has no relocations to apply at start-up (37,000 of them otherwise, on
//! pages that each become a private copy), which is a fifth of the cold start: see benches/levers.md. The
//! shared libraries, the heap and the stacks keep their random addresses; the other binaries stay PIE.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-link-arg-bin=bootstrap=-no-pie");
}
