//! A day's load shape: how a day's requests spread over its hours, and how
//! much of them a fixed fleet serves when it may use every hour's headroom.
//!
//! The shape is 24 weights with mean 1: hour h carries `w[h]` times the
//! day's average request rate. With a duty cycle the 24 weights cover the
//! operating hours in 24 equal slices. Fleets that grow with demand are
//! sized at the peak (`workload.peak_to_average`), which is at least the
//! shape's highest hour (a peak may be sharper than any whole hour). A
//! fixed (overflow) fleet serves, in every hour, up to its capacity, and
//! sends only that hour's excess to the API.

/// Weights in a day.
pub const HOURS: usize = 24;

/// 24 hourly weights with mean 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadShape {
    weights: [f64; HOURS],
}

impl Default for LoadShape {
    /// Flat: every hour at the average.
    fn default() -> Self {
        LoadShape {
            weights: [1.0; HOURS],
        }
    }
}

impl LoadShape {
    /// The shape of relative weights `given` (any positive total), scaled
    /// to mean 1; `None` unless there are 24 finite, non-negative weights
    /// with a positive total.
    pub fn from_weights(given: &[f64]) -> Option<LoadShape> {
        if given.len() != HOURS || given.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return None;
        }
        let total: f64 = given.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return None;
        }
        let mut weights = [0.0; HOURS];
        for (w, g) in weights.iter_mut().zip(given) {
            *w = g * HOURS as f64 / total;
        }
        Some(LoadShape { weights })
    }

    /// The default shape for a peak-to-average ratio `peak`: one daily
    /// peak at midday, traffic falling linearly on both sides towards
    /// midnight (a "tent"), and zero in the hours where the line would go
    /// below zero. Its highest hour is `peak` itself, up to 24, where the
    /// whole day's traffic falls in one hour; a higher `peak` is a burst
    /// within that hour and gets the same shape.
    ///
    /// With d the hours from midday (0–12), w(d) = max(0, peak − s·d), and
    /// the slope s is the one that makes the weights average 1: with no
    /// hour clipped (peak ≤ 2) s = (peak − 1)/6; with the hours beyond d = K
    /// at zero, s = (peak·(2K + 1) − 24)/(K(K + 1)).
    pub fn from_peak(peak: f64) -> LoadShape {
        let peak = peak.max(1.0);
        let mut weights = [0.0; HOURS];
        if peak >= HOURS as f64 {
            weights[12] = HOURS as f64;
            return LoadShape { weights };
        }
        // Hours from midday: 1 hour at 0 and at 12, 2 at each of 1–11.
        let distance = |h: usize| (h as f64 - 12.0).abs();
        let slope = if peak <= 2.0 {
            (peak - 1.0) / 6.0
        } else {
            // The widest tent whose last positive hour stays positive.
            (1..12u32)
                .rev()
                .map(|k| {
                    let k = f64::from(k);
                    (k, (peak * (2.0 * k + 1.0) - 24.0) / (k * (k + 1.0)))
                })
                .find(|&(k, s)| peak - s * k >= -1e-12 && peak - s * (k + 1.0) <= 1e-12)
                .map_or((3.0 * peak - 24.0) / 2.0, |(_, s)| s)
        };
        for (h, w) in weights.iter_mut().enumerate() {
            *w = (peak - slope * distance(h)).max(0.0);
        }
        LoadShape { weights }
    }

    /// The weights, hour 0 first.
    pub fn weights(&self) -> &[f64; HOURS] {
        &self.weights
    }

    /// The highest hour over the average.
    pub fn peak(&self) -> f64 {
        self.weights.iter().copied().fold(0.0, f64::max)
    }

    /// Of `wanted` requests a day, those a fleet able to serve `capacity` a
    /// day at a flat load serves: the day less every hour's excess over
    /// the fleet's hourly capacity. Exactly `wanted` when no hour exceeds
    /// it.
    #[inline(always)]
    pub fn served(&self, wanted: f64, capacity: f64) -> f64 {
        let mut excess = 0.0;
        for w in &self.weights {
            excess += (wanted * w - capacity).max(0.0);
        }
        (wanted - excess / HOURS as f64).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(s: &LoadShape) -> f64 {
        s.weights().iter().sum::<f64>() / HOURS as f64
    }

    #[test]
    fn the_default_shape_averages_one_and_peaks_at_the_ratio() {
        for peak in [1.0, 1.3, 2.0, 2.5, 3.0, 5.0, 8.0, 12.0, 23.5] {
            let s = LoadShape::from_peak(peak);
            assert!((mean(&s) - 1.0).abs() < 1e-12, "{peak}: mean {}", mean(&s));
            assert!((s.peak() - peak).abs() < 1e-12, "{peak}: peak {}", s.peak());
            assert!(s.weights().iter().all(|w| *w >= 0.0));
        }
        // Beyond 24 the day's traffic is in one hour.
        let s = LoadShape::from_peak(40.0);
        assert_eq!(s.peak(), 24.0);
        assert_eq!(mean(&s), 1.0);
    }

    #[test]
    fn a_tent_worked_by_hand() {
        // Peak 2: slope 1/6, from 2 at midday to 0 at midnight.
        let s = LoadShape::from_peak(2.0);
        assert_eq!(s.weights()[12], 2.0);
        assert_eq!(s.weights()[0], 0.0);
        assert!((s.weights()[6] - 1.0).abs() < 1e-15);
        // Peak 3: the hours 8 or more from midday are zero, slope 3/8:
        // 3 + 2·(8·3 − 0.375·36) = 24.
        let s = LoadShape::from_peak(3.0);
        assert!((s.weights()[13] - 2.625).abs() < 1e-12);
        assert_eq!(s.weights()[4], 0.0);
        assert!(s.weights()[5] > 0.0);
    }

    #[test]
    fn a_fleet_serves_each_hour_up_to_its_capacity() {
        // Twelve hours at 1.5 and twelve at 0.5 of 2,400 a day: hours of
        // 150 and 50 requests. A fleet of 100 an hour (2,400 a day at a
        // flat load) serves 100 in each busy hour and all of each quiet
        // one: 12·100 + 12·50 = 1,800.
        let mut given = [0.5; HOURS];
        given[..12].fill(1.5);
        let s = LoadShape::from_weights(&given).unwrap();
        assert_eq!(s.served(2400.0, 2400.0), 1800.0);
        // Sized at the peak, it serves everything, exactly.
        assert_eq!(s.served(2400.0, 3600.0), 2400.0);
        // Sized at the peak over the average of the old rule, it served
        // 2,400/1.5 = 1,600 a day; the headroom adds 200.
        assert!(s.served(2400.0, 2400.0) > 2400.0 / s.peak());
        assert_eq!(s.served(0.0, 100.0), 0.0);
        assert_eq!(s.served(100.0, 0.0), 0.0);
    }

    #[test]
    fn served_never_falls_below_the_peak_rule() {
        for peak in [1.0, 1.7, 2.0, 3.0, 6.0] {
            let s = LoadShape::from_peak(peak);
            for capacity in [0.0, 10.0, 50.0, 99.0, 100.0, 150.0, 1000.0] {
                let wanted = 100.0;
                let served = s.served(wanted, capacity);
                assert!(served >= wanted.min(capacity / peak) - 1e-9);
                assert!(served <= wanted.min(capacity) + 1e-9);
            }
        }
    }

    #[test]
    fn weights_are_refused_unless_24_non_negative_with_a_positive_sum() {
        assert!(LoadShape::from_weights(&[1.0; 23]).is_none());
        assert!(LoadShape::from_weights(&[0.0; 24]).is_none());
        let mut w = [1.0; 24];
        w[3] = -1.0;
        assert!(LoadShape::from_weights(&w).is_none());
        w[3] = f64::NAN;
        assert!(LoadShape::from_weights(&w).is_none());
        let s = LoadShape::from_weights(&[2.0; 24]).unwrap();
        assert_eq!(s, LoadShape::default());
    }
}
