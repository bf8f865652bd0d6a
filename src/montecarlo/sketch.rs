//! A mergeable quantile sketch with bounded relative error, after the
//! DDSketch of Masson, Rim and Lee (VLDB 2019): values fall into
//! logarithmically spaced buckets, so any quantile is returned within
//! ±`ALPHA` of the true value (relative), and merging two sketches is
//! adding their counts — exact, and independent of the order paths were
//! processed in.
//!
//! The buckets are those of the value's binary representation (the
//! log-linear buckets of HDR Histogram): the exponent and the top
//! [`SUB_BITS`] bits of the mantissa. A bucket's index is then one shift of
//! the value's bits, where DDSketch's buckets of ratio γ = (1+α)/(1−α) need
//! a logarithm per value — the sketch's main cost when a simulation adds
//! five values per path and month. The price is more buckets: 128 an
//! octave, where γ-buckets with the same bound need 89.

/// Mantissa bits kept in a bucket index: each octave splits into 128
/// buckets, so a bucket's upper end is at most 1 + 1/128 times its lower.
const SUB_BITS: u32 = 7;

/// Relative accuracy of every quantile: a bucket [lo, hi) with
/// hi/lo ≤ r = 1 + 2^−SUB_BITS is represented by 2·lo·hi/(lo+hi), within
/// (r−1)/(r+1) = 1/257 of every member (checked in the tests).
pub const ALPHA: f64 = 1.0 / 257.0;

/// Values closer to zero than this count as zero (USD: about a hundredth
/// of a cent). A power of two, so that it is where a bucket starts.
const ZERO: f64 = 1.0 / 8192.0;

/// Values [`Sketch::add_all`] works out together.
const RUN: usize = 64;

/// Bits dropped from a value's representation to give its bucket.
const SHIFT: u32 = 52 - SUB_BITS;

/// The buckets of [`ZERO`] and of infinity: a magnitude is counted in a
/// bucket when its index lies in between (NaN lies beyond infinity).
const ZERO_INDEX: i32 = (ZERO.to_bits() >> SHIFT) as i32;
const INFINITE_INDEX: i32 = (f64::INFINITY.to_bits() >> SHIFT) as i32;

/// A bucket's count. A simulation puts at most `MAX_PATHS` (10 million)
/// values in a sketch, so its sketches count in 32 bits; a chunk's sketches,
/// which see at most a chunk of paths, count in 16, which halves the memory
/// the chunk's loop touches with every batch of paths (a few hundred
/// sketches, one per month and series).
pub trait Count:
    Copy + Default + PartialEq + std::fmt::Debug + std::ops::AddAssign + Into<u64>
{
    const ONE: Self;
}

impl Count for u16 {
    const ONE: Self = 1;
}

impl Count for u32 {
    const ONE: Self = 1;
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Store<C> {
    /// Index of `counts[0]`.
    offset: i32,
    counts: Vec<C>,
}

impl<C: Count> Store<C> {
    /// Makes room for indices `lo..=hi`. Grows with headroom on either
    /// side, so that a run of ever smaller or larger values moves the
    /// counts only a logarithmic number of times.
    #[cold]
    fn reserve(&mut self, lo: i32, hi: i32) {
        // An octave either side to start with (the values of a month mostly
        // lie within a few octaves), and room for as many again each time
        // the values go beyond: a fresh zeroed allocation and one copy.
        let len = self.counts.len() as i32;
        let headroom = len.max(1 << SUB_BITS);
        let (old_lo, old_end) = if self.counts.is_empty() {
            (lo, hi + 1)
        } else {
            (self.offset, self.offset + len)
        };
        let new_lo = if lo < old_lo || self.counts.is_empty() {
            lo.min(old_lo) - headroom
        } else {
            old_lo
        };
        let new_end = if hi >= old_end || self.counts.is_empty() {
            (hi + 1).max(old_end) + headroom
        } else {
            old_end
        };
        let mut counts = vec![C::default(); (new_end - new_lo) as usize];
        let at = (old_lo - new_lo) as usize;
        counts[at..at + self.counts.len()].copy_from_slice(&self.counts);
        self.counts = counts;
        self.offset = new_lo;
    }

    #[inline]
    fn add(&mut self, index: i32) {
        let at = index.wrapping_sub(self.offset) as u32 as usize;
        match self.counts.get_mut(at) {
            Some(c) => *c += C::ONE,
            None => {
                self.reserve(index, index);
                self.counts[(index - self.offset) as usize] += C::ONE;
            }
        }
    }

    fn merge<D: Count>(&mut self, other: &Store<D>)
    where
        C: From<D>,
    {
        let zero = D::default();
        let Some(first) = other.counts.iter().position(|&n| n != zero) else {
            return;
        };
        let last = (other.counts.iter())
            .rposition(|&n| n != zero)
            .unwrap_or(first);
        let (lo, hi) = (other.offset + first as i32, other.offset + last as i32);
        let end = self.offset + self.counts.len() as i32;
        if self.counts.is_empty() || lo < self.offset || hi >= end {
            self.reserve(lo, hi);
        }
        let at = (lo - self.offset) as usize;
        for (a, b) in self.counts[at..]
            .iter_mut()
            .zip(&other.counts[first..=last])
        {
            *a += C::from(*b);
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|&n| n.into()).sum()
    }
}

/// The sketch, counting in `C`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sketch<C = u32> {
    positive: Store<C>,
    negative: Store<C>,
    zeros: u64,
}

/// The bucket of |value| (finite, at least [`ZERO`]): the sign-less bits
/// of an IEEE double order like the values, so the top bits are a
/// logarithmic bucket index.
#[inline]
fn index_of(magnitude: f64) -> i32 {
    (magnitude.to_bits() >> SHIFT) as i32
}

/// The bucket's representative value: the harmonic mean of its ends,
/// within ALPHA of every member.
fn value(index: i32) -> f64 {
    let lo = f64::from_bits((index as u64) << SHIFT);
    let hi = f64::from_bits((index as u64 + 1) << SHIFT);
    2.0 * lo * hi / (lo + hi)
}

impl Sketch<u32> {
    /// A sketch written by [`Sketch::encode`], from the front of `bytes`,
    /// which then starts after it; `None` when it is cut short.
    pub fn decode(bytes: &mut &[u8]) -> Option<Self> {
        fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = bytes.split_at_checked(N)?;
            *bytes = rest;
            head.try_into().ok()
        }
        let mut store = || -> Option<Store<u32>> {
            let offset = i32::from_le_bytes(take(bytes)?);
            let len = u64::from_le_bytes(take(bytes)?) as usize;
            if len > bytes.len() {
                return None;
            }
            let mut leb = || -> Option<u32> {
                let mut n = 0u32;
                for shift in (0..35).step_by(7) {
                    let [b] = take::<1>(bytes)?;
                    n |= u32::from(b & 0x7f).checked_shl(shift)?;
                    if b & 0x80 == 0 {
                        return Some(n);
                    }
                }
                None
            };
            let counts = (0..len).map(|_| leb()).collect::<Option<Vec<_>>>()?;
            Some(Store { offset, counts })
        };
        let positive = store()?;
        let negative = store()?;
        let zeros = u64::from_le_bytes(take(bytes)?);
        Some(Self {
            positive,
            negative,
            zeros,
        })
    }
}

impl<C: Count> Sketch<C> {
    #[inline]
    pub fn add(&mut self, value: f64) {
        let magnitude = value.abs();
        if magnitude < ZERO {
            self.zeros += 1;
            return;
        }
        // NaN and infinities are not counted.
        if !magnitude.is_finite() {
            return;
        }
        if value > 0.0 {
            self.positive.add(index_of(magnitude));
        } else {
            self.negative.add(index_of(magnitude));
        }
    }

    /// Adds every value, a run at a time. A run of one sign (costs are
    /// positive, savings mostly of one sign in a month), once checked in a
    /// loop the compiler vectorises, goes to its store with no test per
    /// value but the store's bounds; a mixed run is split by sign first
    /// ([`Sketch::add_mixed`]), so that no branch depends on signs that
    /// come at random.
    ///
    /// Inlined, like the rest of a chunk's loop, so that the engine's AVX2
    /// build of a chunk covers it (see `montecarlo::Job::chunk`).
    #[inline(always)]
    pub fn add_all(&mut self, values: &[f64]) {
        for run in values.chunks(RUN) {
            let positive = run.iter().filter(|&&v| (ZERO..f64::INFINITY).contains(&v));
            if positive.count() == run.len() {
                run.iter().for_each(|&v| self.positive.add(index_of(v)));
                continue;
            }
            let negative = run.iter().filter(|&&v| (ZERO..f64::INFINITY).contains(&-v));
            if negative.count() == run.len() {
                run.iter().for_each(|&v| self.negative.add(index_of(-v)));
                continue;
            }
            self.add_mixed(run);
        }
    }

    /// Counts a run of values of either sign, or none (zeros, and values
    /// not counted at all). Each value's bucket is written to its sign's
    /// list, whose length grows only if the value counts, and then the
    /// lists are counted store by store.
    #[inline(always)]
    fn add_mixed(&mut self, run: &[f64]) {
        let mut split = [[0i32; RUN]; 2];
        let mut len = [0usize; 2];
        let mut zeros = 0;
        for &v in run.iter().take(RUN) {
            let bits = v.to_bits();
            let index = ((bits << 1) >> (SHIFT + 1)) as i32;
            let sign = (bits >> 63) as usize;
            let counted = (ZERO_INDEX..INFINITE_INDEX).contains(&index);
            split[sign][len[sign]] = index;
            len[sign] += usize::from(counted);
            zeros += u64::from(index < ZERO_INDEX);
        }
        split[0][..len[0]]
            .iter()
            .for_each(|&i| self.positive.add(i));
        split[1][..len[1]]
            .iter()
            .for_each(|&i| self.negative.add(i));
        self.zeros += zeros;
    }

    /// The sketch as bytes (counts as LEB128), for [`Sketch::decode`].
    pub fn encode(&self, out: &mut Vec<u8>)
    where
        u32: From<C>,
    {
        for store in [&self.positive, &self.negative] {
            out.extend(store.offset.to_le_bytes());
            out.extend((store.counts.len() as u64).to_le_bytes());
            // LEB128: most buckets hold small counts or none.
            for &n in &store.counts {
                let mut n = u32::from(n);
                while n >= 0x80 {
                    out.push((n as u8 & 0x7f) | 0x80);
                    n >>= 7;
                }
                out.push(n as u8);
            }
        }
        out.extend(self.zeros.to_le_bytes());
    }

    /// Adds the counts of `other`, which may count in a narrower type.
    pub fn merge<D: Count>(&mut self, other: &Sketch<D>)
    where
        C: From<D>,
    {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    pub fn count(&self) -> u64 {
        self.positive.total() + self.negative.total() + self.zeros
    }

    /// The q-quantile (0 ≤ q ≤ 1) within relative error ALPHA.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Most negative first: the negative store from its largest index.
        for (i, &c) in self.negative.counts.iter().enumerate().rev() {
            seen += c.into();
            if seen > rank {
                return -value(self.negative.offset + i as i32);
            }
        }
        seen += self.zeros;
        if seen > rank {
            return 0.0;
        }
        for (i, &c) in self.positive.counts.iter().enumerate() {
            seen += c.into();
            if seen > rank {
                return value(self.positive.offset + i as i32);
            }
        }
        value(self.positive.offset + self.positive.counts.len() as i32 - 1)
    }

    /// Mean of the values at or below the q-quantile (for CVaR), within
    /// relative error ALPHA.
    pub fn tail_mean_below(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let take = ((q * n as f64).ceil() as u64).max(1);
        let (mut left, mut sum) = (take, 0.0);
        let visit = |value: f64, count: u64, left: &mut u64, sum: &mut f64| {
            let k = count.min(*left);
            *sum += value * k as f64;
            *left -= k;
        };
        for (i, &c) in self.negative.counts.iter().enumerate().rev() {
            if left == 0 {
                break;
            }
            visit(
                -value(self.negative.offset + i as i32),
                c.into(),
                &mut left,
                &mut sum,
            );
        }
        if left > 0 {
            visit(0.0, self.zeros, &mut left, &mut sum);
        }
        for (i, &c) in self.positive.counts.iter().enumerate() {
            if left == 0 {
                break;
            }
            visit(
                value(self.positive.offset + i as i32),
                c.into(),
                &mut left,
                &mut sum,
            );
        }
        sum / (take - left) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_stated_relative_error() {
        let values: Vec<f64> = (1..=10_000).map(|i| i as f64 * 3.7 - 5_000.0).collect();
        let mut sketch = Sketch::<u32>::default();
        values.iter().for_each(|&v| sketch.add(v));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
            let got = sketch.quantile(q);
            assert!(
                (got - exact).abs() <= ALPHA * exact.abs() + 1e-9,
                "q={q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn every_bucket_represents_its_members_within_alpha() {
        // Both ends of every bucket of two octaves, and values in between:
        // the bound is met and, at the first bucket of an octave, attained.
        let mut worst: f64 = 0.0;
        for i in index_of(1.0)..index_of(4.0) {
            let lo = f64::from_bits((i as u64) << SHIFT);
            let below_hi = f64::from_bits(((i as u64 + 1) << SHIFT) - 1);
            for x in [lo, (lo + below_hi) / 2.0, below_hi] {
                assert_eq!(index_of(x), i);
                let error = (value(i) - x).abs() / x;
                assert!(error <= ALPHA * (1.0 + 1e-12), "{x}: {error}");
                worst = worst.max(error);
            }
        }
        assert!(worst > ALPHA * 0.999, "{worst}");
        for x in [1e-4, 0.37, 12_345.678, 9.9e9, 3.2e15] {
            let error = (value(index_of(x)) - x).abs() / x;
            assert!(error <= ALPHA * (1.0 + 1e-12), "{x}: {error}");
        }
    }

    #[test]
    fn zeros_and_non_finite_values() {
        let mut sketch = Sketch::<u32>::default();
        let odd = [0.0, -0.0, 5e-5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        for v in odd {
            sketch.add(v);
        }
        assert_eq!(sketch.count(), 3);
        assert_eq!(sketch.quantile(0.5), 0.0);
        let mut batch = Sketch::<u32>::default();
        batch.add_all(&odd);
        assert_eq!(batch, sketch);
    }

    #[test]
    fn adding_a_batch_is_adding_each_value() {
        // The counts of every bucket, wherever a store keeps them.
        type Buckets = Vec<(i32, u32)>;
        fn buckets(s: &Sketch) -> (Buckets, Buckets, u64) {
            let nonzero = |store: &Store<u32>| {
                (store.counts.iter().enumerate())
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, &n)| (store.offset + i as i32, n))
                    .collect()
            };
            (nonzero(&s.positive), nonzero(&s.negative), s.zeros)
        }
        let runs: [Vec<f64>; 5] = [
            (1..200).map(|i| i as f64 * 1234.5).collect(),
            (1..200).map(|i| -(i as f64) * 0.37).collect(),
            (1..200).map(|i| (i as f64 * 0.37).sin() * 1e4).collect(),
            vec![3.0, ZERO, ZERO * 0.999, -ZERO, 1e300, -1e300, 0.0, f64::NAN],
            vec![-2.0, -1e-9, f64::INFINITY, -7.0],
        ];
        let mut all = Sketch::<u32>::default();
        let mut all_one_by_one = Sketch::<u32>::default();
        for values in runs {
            let mut one_by_one = Sketch::<u32>::default();
            values.iter().for_each(|&v| one_by_one.add(v));
            let mut batch = Sketch::<u32>::default();
            batch.add_all(&values);
            assert_eq!(buckets(&batch), buckets(&one_by_one), "{values:?}");
            // And into a sketch that already holds values.
            all.add_all(&values);
            values.iter().for_each(|&v| all_one_by_one.add(v));
            assert_eq!(buckets(&all), buckets(&all_one_by_one));
        }
    }

    #[test]
    fn merging_is_order_independent_and_exact() {
        let mut a = Sketch::<u32>::default();
        let mut b = Sketch::<u32>::default();
        let mut whole = Sketch::<u32>::default();
        for i in 0..1000 {
            let v = (i as f64 * 0.37).sin() * 1e5 * (1.0 + i as f64);
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            whole.add(v);
        }
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        let mut empty = Sketch::<u32>::default();
        empty.merge(&whole);
        for q in [0.01, 0.2, 0.5, 0.8, 0.99] {
            assert_eq!(ab.quantile(q), whole.quantile(q));
            assert_eq!(ba.quantile(q), whole.quantile(q));
            assert_eq!(empty.quantile(q), whole.quantile(q));
        }
        assert_eq!(ab.count(), 1000);
    }

    #[test]
    fn narrow_counts_merge_into_wide_ones() {
        let values: Vec<f64> = (0..5000).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        let mut narrow = Sketch::<u16>::default();
        narrow.add_all(&values);
        let mut wide = Sketch::<u32>::default();
        wide.add_all(&values);
        let mut merged = Sketch::<u32>::default();
        merged.merge(&narrow);
        merged.merge(&narrow);
        wide.merge(&wide.clone());
        assert_eq!(merged.count(), 10_000);
        for q in [0.0, 0.05, 0.5, 0.95, 1.0] {
            assert_eq!(merged.quantile(q), wide.quantile(q));
        }
        assert_eq!(merged.tail_mean_below(0.05), wide.tail_mean_below(0.05));
    }

    #[test]
    fn tail_means_average_the_lowest_values() {
        let mut sketch = Sketch::<u32>::default();
        for i in 1..=100 {
            sketch.add(i as f64);
        }
        let tail = sketch.tail_mean_below(0.05);
        assert!((tail - 3.0).abs() <= 3.0 * ALPHA + 1e-9, "{tail}");
    }
}
