//! Canary traffic: which requests for a deployment's main ref go to its canary ref. The
//! split is a weighted round robin over a shared counter — of every 100 requests exactly
//! `percent` go to the canary, spread evenly — so a split is exact over any window and
//! needs no random numbers on the hot path. Changing it swaps an `Arc`; a request reads
//! it once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use capstan_client::{ModelName, ModelRef, VersionRef};

/// A deployment's split: requests for `main` go to `canary` `percent` times in 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub main: ModelRef,
    pub canary: ModelRef,
    pub percent: u8,
}

#[derive(Default)]
pub struct Traffic {
    split: RwLock<Option<Arc<Split>>>,
    requests: AtomicU64,
}

impl Traffic {
    /// Applies to requests from now on; `None` sends everything to the main ref.
    pub fn set(&self, split: Option<Split>) {
        *self.split.write().unwrap_or_else(|p| p.into_inner()) = split.map(Arc::new);
    }

    pub fn get(&self) -> Option<Arc<Split>> {
        self.split.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The canary ref this request for `name@reference` goes to, or `None` for the ref
    /// asked for. Only requests for the split's main ref are split.
    pub fn route(&self, name: &ModelName, reference: &VersionRef) -> Option<ModelRef> {
        let split = self.get()?;
        if split.percent == 0 || split.main.model != *name || split.main.version != *reference {
            return None;
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        to_canary(n, split.percent).then(|| split.canary.clone())
    }
}

/// Whether request `n` goes to the canary: when `(n + 1) · percent / 100` passes an
/// integer, so each run of 100 requests sends exactly `percent` of them.
fn to_canary(n: u64, percent: u8) -> bool {
    let p = u64::from(percent.min(100));
    ((n % 100) + 1) * p / 100 > (n % 100) * p / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hundred_requests_send_exactly_percent_spread_out() {
        for percent in [0u8, 1, 10, 33, 50, 99, 100] {
            let sent = (0..100).filter(|&n| to_canary(n, percent)).count();
            assert_eq!(sent, usize::from(percent));
            let sent = (1000..1100).filter(|&n| to_canary(n, percent)).count();
            assert_eq!(sent, usize::from(percent));
        }
        // 10 %: one in each run of ten, not ten in a row.
        let picks: Vec<u64> = (0..30).filter(|&n| to_canary(n, 10)).collect();
        assert_eq!(picks, [9, 19, 29]);
    }

    #[test]
    fn only_the_main_ref_is_split() {
        let traffic = Traffic::default();
        let main: ModelRef = "bc@production".parse().unwrap_or_else(|_| unreachable!());
        let canary: ModelRef = "bc@canary".parse().unwrap_or_else(|_| unreachable!());
        traffic.set(Some(Split {
            main: main.clone(),
            canary: canary.clone(),
            percent: 100,
        }));
        assert_eq!(traffic.route(&main.model, &main.version), Some(canary));
        assert_eq!(traffic.route(&main.model, &VersionRef::Number(3)), None);
        traffic.set(None);
        assert_eq!(traffic.route(&main.model, &main.version), None);
    }
}
