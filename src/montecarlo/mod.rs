//! The Monte Carlo engine.
