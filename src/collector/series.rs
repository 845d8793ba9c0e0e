//! A sorted multiset of timestamps, for exact "how many in the last N seconds" counts.

use std::collections::VecDeque;

/// Timestamps in microseconds, kept sorted. Rows mostly arrive in time order, so inserting is
/// usually a push at the back; a late row is placed by binary search.
#[derive(Debug, Default, Clone)]
pub struct TimeSeries {
    times: VecDeque<i64>,
}

impl TimeSeries {
    pub fn insert(&mut self, t: i64) {
        match self.times.back() {
            Some(&last) if t < last => {
                let at = self.times.partition_point(|&x| x <= t);
                self.times.insert(at, t);
            }
            _ => self.times.push_back(t),
        }
    }

    /// How many timestamps are strictly after `cutoff`.
    pub fn count_after(&self, cutoff: i64) -> u64 {
        (self.times.len() - self.times.partition_point(|&x| x <= cutoff)) as u64
    }

    /// The first timestamp strictly after `cutoff`.
    pub fn first_after(&self, cutoff: i64) -> Option<i64> {
        self.times.get(self.times.partition_point(|&x| x <= cutoff)).copied()
    }

    /// Forgets timestamps at or before `cutoff`: no window can count them any more.
    pub fn prune(&mut self, cutoff: i64) {
        while self.times.front().is_some_and(|&t| t <= cutoff) {
            self.times.pop_front();
        }
    }

    /// A series of these timestamps, which must be sorted.
    pub fn from_sorted(times: Vec<i64>) -> TimeSeries {
        debug_assert!(times.windows(2).all(|w| w[0] <= w[1]));
        TimeSeries { times: times.into() }
    }

    /// Whether the series holds exactly these (sorted) timestamps.
    pub fn equals(&self, times: &[i64]) -> bool {
        self.times.len() == times.len() && self.times.iter().eq(times.iter())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_with_late_rows_and_pruning() {
        let mut s = TimeSeries::default();
        for t in [10, 20, 30, 15, 30, 5] {
            s.insert(t);
        }
        assert_eq!(s.count_after(0), 6);
        assert_eq!(s.count_after(15), 3);
        assert_eq!(s.count_after(30), 0);
        s.prune(15);
        assert_eq!(s.len(), 3);
        assert_eq!(s.count_after(0), 3);
        assert_eq!(s.count_after(20), 2);
    }
}
