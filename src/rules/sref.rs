//! String handles of the rules dialect: what a register holds for a string, so the numeric
//! path of a projection allocates nothing. The host ([`super::host`]) turns them into text.

/// A string value: a copyable handle to text owned elsewhere. Stored in a register as the
/// bits of an `f64` (always a finite, non-negative number, so handles compare with `==`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SRef {
    /// The empty string.
    #[default]
    Empty,
    /// A program string constant.
    Pool(u32),
    /// A request input (index in [`super::inputs::INPUTS`]).
    Input(u16),
    /// The level of the tier's capability row `i`.
    CapLevel(u32),
    /// The `via_dtype` of the tier's capability row `i`.
    CapVia(u32),
    /// Value `i` of string table `t`.
    Map(u16, u32),
    /// The name of registry tier `i`.
    TierName(u32),
    /// Arena string `i` of this evaluation.
    Arena(u32),
    /// Record input `i`.
    Rec(u16),
}

impl SRef {
    /// The handle as register bits.
    #[inline]
    pub fn encode(self) -> f64 {
        let (tag, a, b): (u64, u64, u64) = match self {
            SRef::Empty => return 0.0,
            SRef::Pool(k) => (1, 0, u64::from(k)),
            SRef::Input(i) => (2, u64::from(i), 0),
            SRef::CapLevel(i) => (3, 0, u64::from(i)),
            SRef::CapVia(i) => (4, 0, u64::from(i)),
            SRef::Map(t, i) => (5, u64::from(t), u64::from(i)),
            SRef::TierName(i) => (6, 0, u64::from(i)),
            SRef::Arena(i) => (7, 0, u64::from(i)),
            SRef::Rec(i) => (8, u64::from(i), 0),
        };
        f64::from_bits((tag << 56) | (a << 32) | b)
    }

    /// The handle behind register bits.
    #[inline]
    pub fn decode(x: f64) -> SRef {
        let bits = x.to_bits();
        let (tag, a, b) = (bits >> 56, ((bits >> 32) & 0xffff) as u16, (bits & 0xffff_ffff) as u32);
        match tag {
            1 => SRef::Pool(b),
            2 => SRef::Input(a),
            3 => SRef::CapLevel(b),
            4 => SRef::CapVia(b),
            5 => SRef::Map(a, b),
            6 => SRef::TierName(b),
            7 => SRef::Arena(b),
            8 => SRef::Rec(a),
            _ => SRef::Empty,
        }
    }
}
