//! Artifact bytes that never repeat, so content addressing never deduplicates them.

/// Bytes that differ on every call (so content addressing never deduplicates them).
pub fn unique_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed ^ nanos_since_epoch());
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    let stamp = seed.to_le_bytes();
    let n = stamp.len().min(len);
    out[..n].copy_from_slice(&stamp[..n]);
    out
}

pub fn nanos_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// xorshift64*: fast, incompressible enough filler.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}
