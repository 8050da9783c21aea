//! Randomness from the operating system's source, as hex: ids, nonces and keys all draw on it.

/// `N` bytes from the operating system's random source, as lowercase hex.
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}
