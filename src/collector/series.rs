//! A sorted multiset of timestamps, for exact "how many in the last N seconds" counts.

use std::collections::VecDeque;

/// Timestamps in microseconds, kept sorted. Rows mostly arrive in time order, so inserting is
/// usually a push at the back; a late row is placed by binary search.
///
/// Each window's count is also kept from one scrape to the next ([`TimeSeries::in_window`]):
/// between two scrapes a window's start moves past a few timestamps, and the figures of a busy
/// scrape ask some ten thousand counts, whose binary searches were a tenth of its time (run 9's
/// profile). The count after cutoff `c` also tells where `c` falls (the count's complement).
#[derive(Debug, Default, Clone)]
pub struct TimeSeries {
    times: VecDeque<i64>,
    /// Per window (by index): the last cutoff asked and how many timestamps were after it.
    counts: Vec<Option<(i64, usize)>>,
}

/// Timestamps a window's start is walked past one by one before a binary search takes over.
const WALK: usize = 16;

impl TimeSeries {
    pub fn insert(&mut self, t: i64) {
        match self.times.back() {
            Some(&last) if t < last => {
                let at = self.times.partition_point(|&x| x <= t);
                self.times.insert(at, t);
            }
            _ => self.times.push_back(t),
        }
        for (cutoff, n) in self.counts.iter_mut().flatten() {
            *n += usize::from(t > *cutoff);
        }
    }

    /// How many timestamps are strictly after `cutoff`.
    pub fn count_after(&self, cutoff: i64) -> u64 {
        (self.times.len() - self.times.partition_point(|&x| x <= cutoff)) as u64
    }

    /// [`TimeSeries::count_after`] for window `window`, whose cutoff rarely moves back: from the
    /// window's last count, walking forward over the timestamps its start passed since.
    pub fn in_window(&mut self, window: usize, cutoff: i64) -> u64 {
        let len = self.times.len();
        let from = self.counts.get(window).copied().flatten().filter(|(last, _)| *last <= cutoff);
        let mut at = from.map_or(len, |(_, n)| len - n);
        let walked = from.is_some() && {
            let end = len.min(at + WALK);
            while at < end && self.times[at] <= cutoff {
                at += 1;
            }
            at == len || self.times[at] > cutoff
        };
        if !walked {
            at = self.times.partition_point(|&x| x <= cutoff);
        }
        if self.counts.len() <= window {
            self.counts.resize(window + 1, None);
        }
        self.counts[window] = Some((cutoff, len - at));
        (len - at) as u64
    }

    /// The first timestamp after window `window`'s cutoff, as last counted by
    /// [`TimeSeries::in_window`] with `cutoff`.
    pub fn first_in_window(&mut self, window: usize, cutoff: i64) -> Option<i64> {
        let n = self.in_window(window, cutoff) as usize;
        self.times.get(self.times.len() - n).copied()
    }

    /// The first timestamp strictly after `cutoff`.
    #[cfg(test)]
    pub fn first_after(&self, cutoff: i64) -> Option<i64> {
        self.times.get(self.times.partition_point(|&x| x <= cutoff)).copied()
    }

    /// Forgets timestamps at or before `cutoff`: no window can count them any more.
    pub fn prune(&mut self, cutoff: i64) {
        while self.times.front().is_some_and(|&t| t <= cutoff) {
            self.times.pop_front();
        }
        // A window starting before `cutoff` may have counted what went.
        for count in &mut self.counts {
            if count.is_some_and(|(last, _)| last < cutoff) {
                *count = None;
            }
        }
    }

    /// A series of these timestamps, which must be sorted.
    pub fn from_sorted(times: Vec<i64>) -> TimeSeries {
        debug_assert!(times.windows(2).all(|w| w[0] <= w[1]));
        TimeSeries { times: times.into(), counts: vec![] }
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

    /// Window counts kept between calls agree with a fresh count whatever happens in between:
    /// cutoffs moving forward (a little or a lot), back, late and future rows, pruning.
    #[test]
    fn window_counts_follow_inserts_prunes_and_moving_cutoffs() {
        let mut s = TimeSeries::default();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as i64
        };
        let (mut now, lengths) = (1_000i64, [50i64, 400]);
        for step in 0..5_000 {
            match next(10) {
                0..=5 => s.insert(now - next(60) + 5),
                6 => now += next(3),
                7 => now += next(if step % 500 == 0 { 2_000 } else { 40 }),
                8 => now -= next(30),
                _ => s.prune(now - 400 - next(20)),
            }
            for (w, length) in lengths.iter().enumerate() {
                let cutoff = now - length;
                assert_eq!(s.in_window(w, cutoff), s.count_after(cutoff), "step {step}, window {w}");
                assert_eq!(s.first_in_window(w, cutoff), s.first_after(cutoff), "step {step}, window {w}");
            }
        }
    }
}
