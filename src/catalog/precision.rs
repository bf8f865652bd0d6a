//! Numeric precisions of weights, activations and the KV cache.

/// A numeric format a model can be stored or computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    Bf16,
    Fp8,
    Int8,
    Fp4,
    Int4,
}

impl Precision {
    pub const ALL: [Precision; 5] = [
        Precision::Bf16,
        Precision::Fp8,
        Precision::Int8,
        Precision::Fp4,
        Precision::Int4,
    ];

    /// Storage per value in bytes (scales of block formats not counted).
    pub fn bytes(self) -> f64 {
        match self {
            Precision::Bf16 => 2.0,
            Precision::Fp8 | Precision::Int8 => 1.0,
            Precision::Fp4 | Precision::Int4 => 0.5,
        }
    }

    /// The lowercase name used in data files and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
            Precision::Fp4 => "fp4",
            Precision::Int4 => "int4",
        }
    }

    /// Parses a name as written by [`Precision::name`] (case-insensitive).
    pub fn parse(name: &str) -> Option<Precision> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.name()), Some(p));
        }
        assert_eq!(Precision::parse("FP8"), Some(Precision::Fp8));
        assert_eq!(Precision::parse("fp16"), None);
    }

    #[test]
    fn four_bit_formats_take_half_a_byte() {
        assert_eq!(Precision::Int4.bytes(), 0.5);
        assert_eq!(Precision::Bf16.bytes() / Precision::Fp8.bytes(), 2.0);
    }
}
