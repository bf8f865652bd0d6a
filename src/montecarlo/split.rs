//! A simulation cut into slices of whole chunks that different machines
//! run, then merged into the same bytes [`super::simulate`] gives.
//!
//! Only the floating-point parts of an aggregate depend on the order they
//! are merged in: each series' moments (count, mean, sum of squared
//! deviations) and the monthly utilisation sums. A slice part therefore
//! keeps those per chunk, and [`merge`] folds them chunk by chunk in
//! chunk order, as the local run does. Sketch buckets, break-even counts
//! and path counts are integers, exact in any grouping, so a part keeps
//! them summed over its chunks; the rank sample is kept in path order.
//! The tornado cases run where the parts are merged.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::aggregate::{Aggregate, FinanceAgg, Series};
use super::progress::Board;
use super::sketch::Sketch;
use super::{CHUNK, ENGINE_VERSION, Job, Outcome, Settings, Stochastic, finish, tornado, validate};
use crate::error::{Error, Result};
use crate::tco::plan::Plan;

/// Chunks in one slice unless the caller says otherwise: about a second of
/// work on one core at 60 months.
pub const SLICE_CHUNKS: u64 = 32;

/// The slices of a run of `paths` paths: (first chunk, chunks), in order.
pub fn slices(paths: u64, per_slice: u64) -> Vec<(u64, u64)> {
    let chunks = paths.div_ceil(CHUNK);
    let per_slice = per_slice.max(1);
    (0..chunks)
        .step_by(per_slice as usize)
        .map(|first| (first, per_slice.min(chunks - first)))
        .collect()
}

/// What one slice produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SlicePart {
    pub first_chunk: u64,
    /// Per chunk, in order: each series' (count, mean, m2) in
    /// [`series_of`] order, then each month's utilisation sum.
    moments: Vec<Vec<(u64, f64, f64)>>,
    utilization: Vec<Vec<f64>>,
    /// Each series' smallest and largest value over the slice, in
    /// [`series_of`] order; exact in any grouping.
    extremes: Vec<(f64, f64)>,
    /// The slice's integer parts (its moments are not used).
    rest: Aggregate<u32>,
}

/// Every series of an aggregate in a fixed order: five a month, then the
/// NPV, then the IRR when the run asks for the investment figures.
fn series_of<C>(agg: &Aggregate<C>) -> Vec<&Series<C>> {
    let mut out = Vec::with_capacity(agg.months.len() * 5 + 2);
    for m in &agg.months {
        out.extend([
            &m.api,
            &m.self_host,
            &m.cumulative_api,
            &m.cumulative_self_host,
            &m.cumulative_savings,
        ]);
    }
    out.push(&agg.npv_savings);
    if let Some(finance) = &agg.finance {
        out.push(&finance.irr);
    }
    out
}

fn series_of_mut<C>(agg: &mut Aggregate<C>) -> Vec<&mut Series<C>> {
    let mut out = Vec::with_capacity(agg.months.len() * 5 + 2);
    for m in &mut agg.months {
        out.extend([
            &mut m.api,
            &mut m.self_host,
            &mut m.cumulative_api,
            &mut m.cumulative_self_host,
            &mut m.cumulative_savings,
        ]);
    }
    out.push(&mut agg.npv_savings);
    if let Some(finance) = &mut agg.finance {
        out.push(&mut finance.irr);
    }
    out
}

/// An empty aggregate of `horizon` months, with the investment figures'
/// when `settings` ask for them.
fn empty(horizon: usize, settings: &Settings) -> Aggregate<u32> {
    let mut agg = Aggregate::<u32>::new(horizon);
    if settings.finance.is_some() {
        agg.finance = Some(FinanceAgg::new(horizon));
    }
    agg
}

/// Runs chunks `first_chunk..first_chunk + chunks` of the main run, in
/// parallel; setting `cancel` stops them within a batch.
pub fn run_slice(
    plan: &Plan,
    stochastic: &Stochastic,
    settings: &Settings,
    first_chunk: u64,
    chunks: u64,
    cancel: &AtomicBool,
) -> Result<SlicePart> {
    validate(plan, stochastic, settings)?;
    let job = Job::new(plan, stochastic, settings, Vec::new())?;
    let paths = settings.paths;
    let board = Board::quiet();
    let parts: Vec<_> = (first_chunk..first_chunk + chunks)
        .into_par_iter()
        .map(|c| job.chunk(c * CHUNK, ((c + 1) * CHUNK).min(paths), cancel, &board))
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled("simulation cancelled".into()));
    }
    let mut rest = empty(plan.horizon, settings);
    let mut moments = Vec::with_capacity(parts.len());
    let mut utilization = Vec::with_capacity(parts.len());
    for part in parts {
        moments.push(
            series_of(&part)
                .iter()
                .map(|s| (s.count, s.mean, s.m2))
                .collect(),
        );
        utilization.push(part.months.iter().map(|m| m.utilization_sum).collect());
        rest.merge(part);
    }
    let extremes = series_of(&rest)
        .iter()
        .map(|s| {
            if s.count > 0 {
                (s.min, s.max)
            } else {
                (f64::INFINITY, f64::NEG_INFINITY)
            }
        })
        .collect();
    // Kept per chunk above; what is left is integers only.
    for series in series_of_mut(&mut rest) {
        (series.count, series.mean, series.m2) = (0, 0.0, 0.0);
        (series.min, series.max) = (0.0, 0.0);
    }
    for month in &mut rest.months {
        month.utilization_sum = 0.0;
    }
    Ok(SlicePart {
        first_chunk,
        moments,
        utilization,
        extremes,
        rest,
    })
}

/// Merges every slice part of a run, in chunk order, and runs the tornado
/// cases: the outcome [`super::simulate`] gives for the same request.
pub fn merge(
    plan: &Plan,
    stochastic: &Stochastic,
    settings: &Settings,
    mut parts: Vec<SlicePart>,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    validate(plan, stochastic, settings)?;
    parts.sort_by_key(|p| p.first_chunk);
    let expected = settings.paths.div_ceil(CHUNK);
    let mut next = 0;
    for part in &parts {
        if part.first_chunk != next {
            return Err(Error::Internal(format!(
                "slice parts do not cover the run: chunk {next} is missing"
            )));
        }
        next += part.moments.len() as u64;
    }
    if next != expected {
        return Err(Error::Internal(format!(
            "slice parts cover {next} chunks of {expected}"
        )));
    }
    let mut total = empty(plan.horizon, settings);
    for part in &parts {
        for (moments, utilization) in part.moments.iter().zip(&part.utilization) {
            for (series, &(count, mean, m2)) in series_of_mut(&mut total).into_iter().zip(moments) {
                series.merge_moments_of(count, mean, m2);
            }
            for (month, &u) in total.months.iter_mut().zip(utilization) {
                month.utilization_sum += u;
            }
        }
    }
    // A series may have no values in a slice (paths without an IRR):
    // its range starts with the first slice that has some.
    let mut seen = vec![false; series_of(&total).len()];
    for part in &parts {
        let series = series_of_mut(&mut total).into_iter().zip(&part.extremes);
        for ((series, &(lo, hi)), seen) in series.zip(&mut seen) {
            if lo > hi {
                continue;
            }
            if *seen {
                series.min = series.min.min(lo);
                series.max = series.max.max(hi);
            } else {
                (series.min, series.max) = (lo, hi);
                *seen = true;
            }
        }
    }
    for part in parts {
        let rest = part.rest;
        total.paths += rest.paths;
        for (series, other) in series_of_mut(&mut total).into_iter().zip(series_of(&rest)) {
            series.sketch.merge(&other.sketch);
        }
        for (a, b) in total.break_even_at.iter_mut().zip(&rest.break_even_at) {
            *a += b;
        }
        total.cheaper_over_horizon += rest.cheaper_over_horizon;
        total.sample.extend(rest.sample);
        if let (Some(total), Some(rest)) = (&mut total.finance, &rest.finance) {
            total.no_irr += rest.no_irr;
            total.above_hurdle += rest.above_hurdle;
            for (a, b) in total.payback_at.iter_mut().zip(&rest.payback_at) {
                *a += b;
            }
        }
    }
    let tornado = tornado(plan, stochastic, settings, cancel)?;
    Ok(finish(stochastic, settings, total, tornado))
}

const MAGIC: &[u8] = b"breakeven-slice/3";

impl SlicePart {
    /// The part as bytes, stamped with the engine version.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let text = |out: &mut Vec<u8>, t: &[u8]| {
            out.extend((t.len() as u64).to_le_bytes());
            out.extend(t);
        };
        text(&mut out, MAGIC);
        text(&mut out, ENGINE_VERSION.as_bytes());
        out.extend(self.first_chunk.to_le_bytes());
        out.extend((self.moments.len() as u64).to_le_bytes());
        out.extend((self.rest.months.len() as u64).to_le_bytes());
        out.extend(u64::from(self.rest.finance.is_some()).to_le_bytes());
        for (moments, utilization) in self.moments.iter().zip(&self.utilization) {
            for &(count, mean, m2) in moments {
                out.extend(count.to_le_bytes());
                out.extend(mean.to_bits().to_le_bytes());
                out.extend(m2.to_bits().to_le_bytes());
            }
            for u in utilization {
                out.extend(u.to_bits().to_le_bytes());
            }
        }
        for (lo, hi) in &self.extremes {
            out.extend(lo.to_bits().to_le_bytes());
            out.extend(hi.to_bits().to_le_bytes());
        }
        let rest = &self.rest;
        out.extend(rest.paths.to_le_bytes());
        for n in &rest.break_even_at {
            out.extend(n.to_le_bytes());
        }
        out.extend(rest.cheaper_over_horizon.to_le_bytes());
        for series in series_of(rest) {
            series.sketch.encode(&mut out);
        }
        out.extend((rest.sample.len() as u64).to_le_bytes());
        for (drivers, npv) in &rest.sample {
            out.extend((drivers.len() as u64).to_le_bytes());
            for d in drivers {
                out.extend(d.to_bits().to_le_bytes());
            }
            out.extend(npv.to_bits().to_le_bytes());
        }
        if let Some(finance) = &rest.finance {
            out.extend(finance.no_irr.to_le_bytes());
            out.extend(finance.above_hurdle.to_le_bytes());
            for n in &finance.payback_at {
                out.extend(n.to_le_bytes());
            }
        }
        out
    }

    /// A part written by [`SlicePart::encode`] under this engine version.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::Internal(format!("a stored slice part is unusable: {why}"));
        let b = &mut bytes;
        fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = b.split_at_checked(N)?;
            *b = rest;
            head.try_into().ok()
        }
        let u64_of = |b: &mut &[u8]| {
            take(b)
                .map(u64::from_le_bytes)
                .ok_or_else(|| bad("cut short"))
        };
        let f64_of = |b: &mut &[u8]| {
            take(b)
                .map(|x| f64::from_bits(u64::from_le_bytes(x)))
                .ok_or_else(|| bad("cut short"))
        };
        let text = |b: &mut &[u8]| -> Result<Vec<u8>> {
            let len = u64_of(b)? as usize;
            let (head, rest) = b.split_at_checked(len).ok_or_else(|| bad("cut short"))?;
            *b = rest;
            Ok(head.to_vec())
        };
        if text(b)? != MAGIC {
            return Err(bad("not a slice part"));
        }
        let version = text(b)?;
        if version != ENGINE_VERSION.as_bytes() {
            return Err(bad(&format!(
                "written by engine {}, this is {ENGINE_VERSION}",
                String::from_utf8_lossy(&version)
            )));
        }
        let first_chunk = u64_of(b)?;
        let chunks = u64_of(b)? as usize;
        let horizon = u64_of(b)? as usize;
        let finance = match u64_of(b)? {
            0 => false,
            1 => true,
            _ => return Err(bad("not a slice part")),
        };
        if chunks > b.len() / 8 || horizon > super::MAX_MONTHS {
            return Err(bad("sizes out of range"));
        }
        let per_chunk = horizon * 5 + 1 + usize::from(finance);
        let mut moments = Vec::with_capacity(chunks);
        let mut utilization = Vec::with_capacity(chunks);
        for _ in 0..chunks {
            let mut m = Vec::with_capacity(per_chunk);
            for _ in 0..per_chunk {
                m.push((u64_of(b)?, f64_of(b)?, f64_of(b)?));
            }
            moments.push(m);
            utilization.push(
                (0..horizon)
                    .map(|_| f64_of(b))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        let extremes = (0..per_chunk)
            .map(|_| Ok((f64_of(b)?, f64_of(b)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut rest = Aggregate::<u32>::new(horizon);
        if finance {
            rest.finance = Some(FinanceAgg::new(horizon));
        }
        rest.paths = u64_of(b)?;
        for n in rest.break_even_at.iter_mut() {
            *n = u64_of(b)?;
        }
        rest.cheaper_over_horizon = u64_of(b)?;
        for series in series_of_mut(&mut rest) {
            series.sketch = Sketch::decode(b).ok_or_else(|| bad("cut short"))?;
        }
        let samples = u64_of(b)? as usize;
        if samples > b.len() / 8 {
            return Err(bad("sizes out of range"));
        }
        for _ in 0..samples {
            let n = u64_of(b)? as usize;
            if n > b.len() / 8 {
                return Err(bad("sizes out of range"));
            }
            let drivers = (0..n).map(|_| f64_of(b)).collect::<Result<Vec<_>>>()?;
            rest.sample.push((drivers, f64_of(b)?));
        }
        if let Some(f) = &mut rest.finance {
            f.no_irr = u64_of(b)?;
            f.above_hurdle = u64_of(b)?;
            for n in f.payback_at.iter_mut() {
                *n = u64_of(b)?;
            }
        }
        if !b.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(Self {
            first_chunk,
            moments,
            utilization,
            extremes,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_chunk_once_in_order() {
        assert_eq!(slices(1, 32), [(0, 1)]);
        assert_eq!(slices(5 * CHUNK + 1, 2), [(0, 2), (2, 2), (4, 2)]);
        assert_eq!(slices(64 * CHUNK, 32), [(0, 32), (32, 32)]);
    }
}
