//! What the benchmarks share: where results go, and percentiles.
#![allow(dead_code)]

use std::io::Write;
use std::time::Duration;

/// Appends one figure to target/bench-results.jsonl, which `make bench` turns into BENCHMARKS.md.
pub fn record(figure: serde_json::Value) {
    println!("BENCH {figure}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.jsonl");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(file, "{figure}").unwrap();
}

/// The p-th percentile (0 to 100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

pub fn micros(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000.0 * 10.0).round() / 10.0
}

pub fn millis(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000_000.0 * 100.0).round() / 100.0
}

/// `cargo bench` passes `--bench`; anything else (a stray `cargo test --benches`) only checks it starts.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}
