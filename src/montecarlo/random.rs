//! The engine's random numbers: Xoshiro256++ streams, one per path, run
//! side by side across a batch's lanes, and standard normals from them by
//! the ziggurat method.
//!
//! Xoshiro256++ (Blackman and Vigna, 2019) is a small, fast generator with
//! a period of 2²⁵⁶ − 1, defined by shifts, rotations, additions and
//! exclusive ors of 64-bit words: the same numbers on every platform. Path
//! i's streams are keyed by the seed and i alone (through SplitMix64's
//! mixing function), so a path draws the same numbers whichever chunk,
//! batch, lane or thread it lands in.
//!
//! Each path has two streams. The *main* stream gives one word per
//! factor and month, at the same step in every lane, so that a batch's
//! generators (one a lane) advance together in vector registers. The
//! *extra* stream gives what a path needs an irregular amount of: its
//! uncertain static values, the few normals the ziggurat's fast path
//! rejects, and the sizes of API price cuts.

use std::sync::OnceLock;

use crate::tco::LANES;

/// SplitMix64's increment (2⁶⁴/φ) and output function (Steele, Lea and
/// Flood, 2014): a bijection of 64-bit words that mixes every bit.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The state of stream `which` (0 main, 1 extra) of path stream `stream`
/// under `seed`: SplitMix64, started from a key that mixes all three,
/// fills the four words.
fn initial_state(seed: u64, stream: u64, which: u64) -> [u64; 4] {
    let mut key = mix64(seed ^ mix64(stream.wrapping_mul(2).wrapping_add(which)));
    std::array::from_fn(|_| {
        key = key.wrapping_add(GOLDEN_GAMMA);
        mix64(key)
    })
}

/// One Xoshiro256++ stream.
#[derive(Debug, Clone)]
pub struct Stream([u64; 4]);

impl Stream {
    pub fn new(seed: u64, stream: u64, which: u64) -> Self {
        Self(initial_state(seed, stream, which))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform in [0, 1) from the top 53 bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal, entirely from this stream (the engine draws
    /// its normals a batch at a time; this serves the tests).
    #[cfg(test)]
    fn normal(&mut self) -> f64 {
        let bits = self.next_u64();
        normal_from(bits, self)
    }
}

/// The main streams of a batch's lanes, as four words by lane.
#[derive(Debug, Clone)]
pub struct LaneStreams {
    s: [[u64; LANES]; 4],
}

impl Default for LaneStreams {
    fn default() -> Self {
        Self { s: [[0; LANES]; 4] }
    }
}

impl LaneStreams {
    pub fn seed(&mut self, lane: usize, state: &Stream) {
        for (word, &value) in self.s.iter_mut().zip(&state.0) {
            word[lane] = value;
        }
    }

    /// The next word of every lane's stream.
    #[inline(always)]
    pub fn next(&mut self, out: &mut [u64; LANES]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for l in 0..LANES {
            out[l] = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
    }
}

/// Layers of the ziggurat, and the tail's start.
const LAYERS: usize = 256;
const TAIL_START: f64 = 3.654_152_885_361_009;
/// The area of each layer (Marsaglia and Tsang, 2000).
const LAYER_AREA: f64 = 0.004_928_673_233_99;

/// The ziggurat's layer edges x and densities f(x) = exp(−x²/2).
#[derive(Debug)]
pub struct Ziggurat {
    pub x: [f64; LAYERS + 1],
    pub f: [f64; LAYERS + 1],
}

/// exp(−x²/2), the unnormalised density.
fn density(x: f64) -> f64 {
    super::paths::exp_scalar(-0.5 * x * x)
}

/// The tables, computed once with the engine's own exponential and
/// logarithm (so the same bits everywhere): x₀ = v/f(r), x₁ = r, and
/// each next edge where the layer above has area v.
pub fn ziggurat() -> &'static Ziggurat {
    static TABLES: OnceLock<Ziggurat> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut x = [0.0; LAYERS + 1];
        x[0] = LAYER_AREA / density(TAIL_START);
        x[1] = TAIL_START;
        for i in 2..LAYERS {
            let y = (LAYER_AREA / x[i - 1] + density(x[i - 1])).min(1.0);
            x[i] = (-2.0 * ln(y)).sqrt();
        }
        x[LAYERS] = 0.0;
        let f = x.map(density);
        Ziggurat { x, f }
    })
}

/// A uniform in (−1, 1) from the top 52 bits of `bits`, never 0 or ±1.
#[inline(always)]
fn symmetric_uniform(bits: u64) -> f64 {
    let open = f64::from_bits((bits >> 12) | (1023 << 52)) - (1.0 - f64::EPSILON / 2.0);
    2.0 * open - 1.0
}

/// The ziggurat's fast path for a word: the normal, and whether it
/// stands (about 98.8% of words); a word that does not needs
/// [`normal_from`].
#[inline(always)]
pub fn fast_normal(z: &Ziggurat, bits: u64) -> (f64, bool) {
    let i = (bits & 0xff) as usize;
    let x = symmetric_uniform(bits) * z.x[i];
    (x, x.abs() < z.x[i + 1])
}

/// [`fast_normal`] for every lane's word, each normal times the lane's
/// `sign`, into `out`; false if any lane's does not stand (those lanes'
/// numbers are then to be replaced). The layer edges are looked up first,
/// lane by lane, so that the arithmetic after runs across the lanes in
/// vector registers, which the compiler does not do with the lookups in
/// the same loop.
#[inline(always)]
pub fn fast_normals(
    z: &Ziggurat,
    words: &[u64; LANES],
    sign: &[f64; LANES],
    out: &mut [f64; LANES],
) -> bool {
    let mut outer = [0.0; LANES];
    let mut inner = [0.0; LANES];
    for l in 0..LANES {
        let i = (words[l] & 0xff) as usize;
        outer[l] = z.x[i];
        inner[l] = z.x[i + 1];
    }
    let mut stand = true;
    for l in 0..LANES {
        let x = symmetric_uniform(words[l]) * outer[l];
        out[l] = sign[l] * x;
        stand &= x.abs() < inner[l];
    }
    stand
}

/// A standard normal from the word `bits`, with what else it needs from
/// `extra`.
#[cold]
pub fn normal_from(mut bits: u64, extra: &mut Stream) -> f64 {
    let z = ziggurat();
    loop {
        let i = (bits & 0xff) as usize;
        let u = symmetric_uniform(bits);
        let x = u * z.x[i];
        if x.abs() < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            // The tail beyond r (Marsaglia, 1964).
            loop {
                let a = ln(1.0 - extra.uniform()) / TAIL_START;
                let b = ln(1.0 - extra.uniform());
                if -2.0 * b >= a * a {
                    return if u < 0.0 {
                        a - TAIL_START
                    } else {
                        TAIL_START - a
                    };
                }
            }
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * extra.uniform() < density(x) {
            return x;
        }
        bits = extra.next_u64();
    }
}

/// ln x in plain IEEE arithmetic: x = m·2ᵉ with
/// m in [√½, √2), and ln m = 2·atanh((m−1)/(m+1)) by its series, whose
/// argument is at most 0.172 (terms to s²³, truncation below 1e-18);
/// within 4e-16 of the true value, relative (absolute where it is below 1).
/// Used where portability matters more than speed: the ziggurat's tables
/// and its rare slow paths.
pub fn ln(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return if x == 0.0 { f64::NEG_INFINITY } else { x };
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= 18_014_398_509_481_984.0; // 2⁵⁴
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    for k in (0..12).rev() {
        sum = sum * s2 + 1.0 / f64::from(2 * k + 1);
    }
    let ef = e as f64;
    ef * LN2_HI + (2.0 * s * sum + ef * LN2_LO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_xoshiro256_plus_plus() {
        // The reference implementation's first outputs from the state
        // {1, 2, 3, 4}.
        let mut s = Stream([1, 2, 3, 4]);
        let first: Vec<u64> = (0..3).map(|_| s.next_u64()).collect();
        assert_eq!(first, [41_943_041, 58_720_359, 3_588_806_011_781_223]);
    }

    #[test]
    fn lanes_run_the_same_streams_side_by_side() {
        let mut lanes = LaneStreams::default();
        let mut singles: Vec<Stream> = (0..LANES as u64).map(|i| Stream::new(9, i, 0)).collect();
        for (lane, s) in singles.iter().enumerate() {
            lanes.seed(lane, s);
        }
        let mut words = [0; LANES];
        for _ in 0..5 {
            lanes.next(&mut words);
            for (w, s) in words.iter().zip(&mut singles) {
                assert_eq!(*w, s.next_u64());
            }
        }
        assert_ne!(
            Stream::new(9, 0, 0).next_u64(),
            Stream::new(9, 0, 1).next_u64()
        );
        assert_ne!(
            Stream::new(9, 0, 0).next_u64(),
            Stream::new(10, 0, 0).next_u64()
        );
    }

    #[test]
    fn the_logarithm_is_within_a_few_units_in_the_last_place() {
        let xs = (1..200_000)
            .map(|i| i as f64 / 1000.0)
            .chain((0..2000).map(|i| 1.0 + (i as f64 - 1000.0) * 1e-6))
            .chain([1e-310, 1e-300, 0.5, 2.0, 1e300, f64::MIN_POSITIVE]);
        for x in xs {
            let (got, want) = (ln(x), x.ln());
            assert!(
                (got - want).abs() <= 4e-16 * want.abs().max(1.0),
                "ln({x}) = {got}, not {want}"
            );
        }
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(0.0).is_infinite() && ln(-1.0).is_nan());
    }

    #[test]
    fn the_ziggurat_tables_are_the_standard_ones() {
        let z = ziggurat();
        // Marsaglia and Tsang's x₀ and the edges falling to 0.
        assert!((z.x[0] - 3.910_757_959_537_09).abs() < 1e-12, "{}", z.x[0]);
        assert!(z.x.windows(2).all(|w| w[0] > w[1]));
        assert!(z.x[LAYERS - 1] > 0.0 && z.x[LAYERS - 1] < 0.3);
        assert_eq!(z.f[LAYERS], 1.0);
    }

    #[test]
    fn normals_have_the_moments_and_tails_of_the_standard_normal() {
        let mut s = Stream::new(3, 4, 0);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurtosis = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / var / var;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
        assert!((kurtosis - 3.0).abs() < 0.05, "{kurtosis}");
        // P(|Z| > 1.96) = 5%, P(Z > 3.5) = 2.3e-4 (in the tail's path).
        let beyond = |t: f64| xs.iter().filter(|x| x.abs() > t).count() as f64 / n as f64;
        assert!((beyond(1.96) - 0.05).abs() < 0.002, "{}", beyond(1.96));
        let far = xs.iter().filter(|&&x| x > 3.5).count() as f64 / n as f64;
        assert!((far - 2.326e-4).abs() < 8e-5, "{far}");
    }
}
