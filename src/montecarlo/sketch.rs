//! A mergeable quantile sketch with bounded relative error (the DDSketch
//! of Masson, Rim and Lee, VLDB 2019): values fall into logarithmic
//! buckets, so any quantile is returned within ±`ALPHA` of the true value
//! (relative), and merging two sketches is adding their counts — exact,
//! and independent of the order paths were processed in.

/// Relative accuracy of every quantile.
pub const ALPHA: f64 = 0.005;

/// Values closer to zero than this count as zero (USD: a hundredth of a
/// cent).
const ZERO: f64 = 1e-4;

#[derive(Debug, Clone, PartialEq, Default)]
struct Store {
    /// Index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(0);
        }
        if index < self.offset {
            // Grow downwards with headroom, so that a run of ever smaller
            // values shifts the counts only a logarithmic number of times.
            let grow = ((self.offset - index) as usize).max(self.counts.len() / 2 + 8);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset -= grow as i32;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    fn merge(&mut self, other: &Store) {
        for (i, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                self.add(other.offset + i as i32, n);
            }
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The sketch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sketch {
    positive: Store,
    negative: Store,
    zeros: u64,
}

/// ln γ with γ = (1 + ALPHA) / (1 − ALPHA) = 1.005 / 0.995: a constant,
/// since a logarithm per value is the sketch's main cost (checked against
/// the formula in the tests).
const GAMMA_LN: f64 = 0.010_000_083_334_583_179;

fn gamma_ln() -> f64 {
    GAMMA_LN
}

/// `x.ceil() as i32` without a libm call (x is a log, far inside i32).
fn ceil(x: f64) -> i32 {
    let truncated = x as i32;
    if f64::from(truncated) < x {
        truncated + 1
    } else {
        truncated
    }
}

impl Sketch {
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if value.abs() < ZERO {
            self.zeros += 1;
        } else {
            let index = ceil(value.abs().ln() * (1.0 / GAMMA_LN));
            if value > 0.0 {
                self.positive.add(index, 1);
            } else {
                self.negative.add(index, 1);
            }
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    pub fn count(&self) -> u64 {
        self.positive.total() + self.negative.total() + self.zeros
    }

    /// The bucket's representative value: within ALPHA of every member.
    fn value(index: i32) -> f64 {
        let g = gamma_ln();
        2.0 * (index as f64 * g).exp() / (1.0 + g.exp())
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
            seen += c;
            if seen > rank {
                return -Self::value(self.negative.offset + i as i32);
            }
        }
        seen += self.zeros;
        if seen > rank {
            return 0.0;
        }
        for (i, &c) in self.positive.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Self::value(self.positive.offset + i as i32);
            }
        }
        Self::value(self.positive.offset + self.positive.counts.len() as i32 - 1)
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
                -Self::value(self.negative.offset + i as i32),
                c,
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
                Self::value(self.positive.offset + i as i32),
                c,
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
        let mut sketch = Sketch::default();
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
    fn the_log_of_gamma_matches_its_formula() {
        assert!((GAMMA_LN - ((1.0 + ALPHA) / (1.0 - ALPHA)).ln()).abs() < 1e-17);
    }

    #[test]
    fn merging_is_order_independent_and_exact() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        let mut whole = Sketch::default();
        for i in 0..1000 {
            let v = (i as f64 * 0.37).sin() * 1e5;
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
        for q in [0.01, 0.5, 0.99] {
            assert_eq!(ab.quantile(q), whole.quantile(q));
            assert_eq!(ba.quantile(q), whole.quantile(q));
        }
    }

    #[test]
    fn tail_means_average_the_lowest_values() {
        let mut sketch = Sketch::default();
        for i in 1..=100 {
            sketch.add(i as f64);
        }
        let tail = sketch.tail_mean_below(0.05);
        assert!((tail - 3.0).abs() <= 3.0 * ALPHA + 1e-9, "{tail}");
    }
}
