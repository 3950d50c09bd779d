//! A reproducible shuffled train/test split. The generator is SplitMix64, written out here
//! so the same seed selects the same rows on every platform and in every future build
//! (a crate's random stream may change between versions; this one cannot).

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, well-mixed 64-bit generator.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`), by multiply-shift.
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// Row indices `0..rows` split into (train, test): shuffled with `seed` (Fisher–Yates),
/// the first `ceil(rows × test_fraction)` rows (at least one, leaving at least one for
/// training) going to the test set.
pub fn train_test_split(rows: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..rows).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..rows).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let test_rows =
        ((rows as f64 * test_fraction).ceil() as usize).clamp(1, rows.saturating_sub(1));
    let train = order.split_off(test_rows);
    (train, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }

    #[test]
    fn split_is_a_reproducible_partition() {
        let (train, test) = train_test_split(569, 0.25, 42);
        assert_eq!(test.len(), 143);
        assert_eq!(train.len(), 426);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..569).collect::<Vec<_>>());
        assert_eq!(train_test_split(569, 0.25, 42), (train.clone(), test));
        assert_ne!(train_test_split(569, 0.25, 43).0, train);
    }
}
