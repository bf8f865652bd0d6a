#!/usr/bin/env bash
# Runs breakeven's Monte Carlo engine and the NumPy baseline on the same
# scenario and path count, and prints both and the speed ratio.
#
#   benches/numpy/compare.sh [PATHS]      (default 1000000)
#
# Needs cargo, and python3 with the packages in requirements.txt. The
# engine runs on every core and then on one; NumPy runs on one.
set -euo pipefail

paths="${1:-1000000}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
breakeven="$root/target/release/breakeven"

# path-months per second, in millions, from a report line "(... M path-months/s)"
rate() { sed -n 's/.*(\([0-9.]*\) M path-months\/s).*/\1/p' | head -n 1; }

echo "== breakeven, all cores"
"$breakeven" speed --paths "$paths" --plan-json "$work/plan.json" | grep -A 2 '^Monte Carlo' | tee "$work/rust.txt"
echo
echo "== breakeven, one thread"
RAYON_NUM_THREADS=1 "$breakeven" speed --paths "$paths" | grep '^Monte Carlo' | tee "$work/rust1.txt"
echo
echo "== NumPy baseline (one thread)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 "$here/baseline.py" --plan "$work/plan.json" --paths "$paths" | tee "$work/numpy.txt"
echo

all="$(rate < "$work/rust.txt")"
one="$(rate < "$work/rust1.txt")"
numpy="$(rate < "$work/numpy.txt")"
awk -v all="$all" -v one="$one" -v numpy="$numpy" -v paths="$paths" 'BEGIN {
    printf "%d paths x 60 months, M path-months/s: breakeven %.1f (%.1f on one thread), NumPy %.2f\n", paths, all, one, numpy
    printf "speed ratio: %.1fx on all cores, %.1fx thread for thread\n", all / numpy, one / numpy
}'
echo "(the means above should agree within a few standard errors)"
