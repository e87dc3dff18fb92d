//! Number semantics shared with the reference engine: Python's `round(x, n)`, `max`/`min`
//! argument order, and the shortest round-trip float text used inside names and messages.

/// Powers of ten that are exact in binary64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `round(x, n)` exactly as the reference runtime does it: the exact decimal value of the
/// binary64 `x` is rounded to `n` fractional digits with ties to even, and the decimal result
/// is converted back to the nearest binary64.
///
/// Fast path, exact for `|x·10ⁿ| < 4·10¹⁵`: `y = x·10ⁿ` carries one rounding error of at most
/// half an ulp, and below 2⁵² every half-integer `h` is a multiple of `ulp(y)`. So when
/// `|y| ≠ h` the exact product lies on the same side of `h` as `y` (they are at least one ulp
/// apart), and only `|y| = h` needs the product's exact error, which Dekker's two-product
/// gives without a wider type. `k / 10ⁿ` (both exact, one correctly rounded division) is then
/// the nearest binary64 to the decimal `k·10⁻ⁿ`. Larger values and NaN take the exact
/// decimal expansion.
#[inline]
pub fn py_round(x: f64, n: u32) -> f64 {
    if let Some(&p) = POW10.get(n as usize) {
        let y = x * p;
        let ay = y.abs();
        // false for NaN and infinities too, which take the exact path
        if ay < 4.0e15 {
            // integer part by conversion (exact below 2^52; no libm call)
            // SAFETY: `0 <= ay < 4e15` is finite and fits an i64
            let fl = unsafe { ay.to_int_unchecked::<i64>() } as f64;
            let frac = ay - fl;
            let up = if frac != 0.5 { frac > 0.5 } else { tie_rounds_up(x, p, y, fl) };
            let k = if up { fl + 1.0 } else { fl };
            // the sign is restored exactly (−0.0 included)
            return (k / p).copysign(x);
        }
    }
    py_round_exact(x, n)
}

/// `|y| = fl + ½` exactly: whether the exact `|x·p|` rounds up — above the half by the
/// product's error, or a true tie, which goes to the even digit.
#[cold]
#[inline(never)]
fn tie_rounds_up(x: f64, p: f64, y: f64, fl: f64) -> bool {
    let e = two_product_error(x, p, y);
    let above = if y < 0.0 { -e } else { e };
    if above != 0.0 { above > 0.0 } else { (fl as i64) % 2 == 1 }
}

/// The exact error `a·b − fl(a·b)` (Dekker's two-product with Veltkamp's split; exact while
/// nothing overflows, which holds for the operands of [`py_round`]'s fast path).
fn two_product_error(a: f64, b: f64, p: f64) -> f64 {
    const SPLIT: f64 = 134_217_729.0; // 2^27 + 1
    let split = |v: f64| {
        let c = SPLIT * v;
        let h = c - (c - v);
        (h, v - h)
    };
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    ((ah * bh - p) + ah * bl + al * bh) + al * bl
}

/// The slow, always-exact path of [`py_round`]: Rust's fixed-precision formatting rounds the
/// exact binary value half-to-even, and parsing returns the nearest binary64.
pub fn py_round_exact(x: f64, n: u32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{:.*}", n as usize, x);
    let r: f64 = text.parse().unwrap_or(x);
    if r == 0.0 && x.is_sign_negative() { -0.0 } else { r }
}

/// Python's `max(a, b)`: `b` only when strictly greater, else `a` (argument order matters for
/// signed zeros and NaN).
#[inline(always)]
pub fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `b` only when strictly smaller, else `a`.
#[inline(always)]
pub fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// Python's `repr(float)`: the shortest text that round-trips, with `.0` on integral values
/// and scientific notation below 1e-4 and from 1e16 (`1e-05`, `1e+16`).
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Shortest round-trip digits in scientific form, e.g. "1.5e16", "-4.266e0".
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if (point as usize) >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// Python's `repr(str)` for the plain strings used in messages: single quotes unless the
/// text contains one.
pub fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Python's `repr(list_of_str)`: `['a', 'b']`.
pub fn py_list_repr<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.into_iter().map(py_str_repr).collect();
    format!("[{}]", v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_examples() {
        assert_eq!(py_round(2.675, 2), 2.67);
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(0.375, 2), 0.38);
        assert_eq!(py_round(76000000000.001, 4), 76000000000.001);
        assert_eq!(py_round(-0.0001, 2).to_bits(), (-0.0f64).to_bits());
        assert_eq!(py_round(37.85, 2), 37.85);
        assert_eq!(py_round(2.5, 0), 2.0);
        assert_eq!(py_round(3.5, 0), 4.0);
        // exact ties of binary fractions, to even, and their neighbours
        assert_eq!(py_round(1.0625, 3), 1.062);
        assert_eq!(py_round(1.1875, 3), 1.188);
        assert_eq!(py_round(-0.125, 2), -0.12);
        assert_eq!(py_round(f64::from_bits(1.0625f64.to_bits() + 1), 3), 1.063);
    }

    #[test]
    fn repr_matches_python() {
        for (x, s) in [
            (14.0, "14.0"),
            (11.2, "11.2"),
            (4.266, "4.266"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (1e15, "1000000000000000.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(py_float_repr(x), s, "{x}");
        }
    }

    #[test]
    fn str_repr() {
        assert_eq!(py_str_repr("bogus"), "'bogus'");
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_list_repr(["a", "b"]), "['a', 'b']");
    }

    proptest! {
        #[test]
        fn fast_round_equals_exact(x in -1.0e9f64..1.0e9, n in 0u32..7) {
            prop_assert_eq!(py_round(x, n).to_bits(), py_round_exact(x, n).to_bits());
        }

        #[test]
        fn fast_round_equals_exact_on_decimal_grid(k in -10_000_000i64..10_000_000, n in 0u32..5, d in 1u32..7) {
            // values written with d decimals, the common case in this domain (e.g. 2.675)
            let x = k as f64 / 10f64.powi(d as i32);
            prop_assert_eq!(py_round(x, n).to_bits(), py_round_exact(x, n).to_bits());
        }

        #[test]
        fn fast_round_equals_exact_at_ties(k in -4_000_000_000i64..4_000_000_000, n in 0u32..9, e in -3i32..4) {
            // binary fractions that are exact decimal ties, and their neighbours
            let x = (k as f64 + 0.5) / 10f64.powi(n as i32) * 2f64.powi(e);
            for v in [x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits().saturating_sub(1))] {
                prop_assert_eq!(py_round(v, n).to_bits(), py_round_exact(v, n).to_bits(), "{}", v);
            }
        }

        #[test]
        fn fast_round_equals_exact_everywhere(bits in any::<u64>(), n in 0u32..16) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(py_round(x, n).to_bits(), py_round_exact(x, n).to_bits(), "{}", x);
        }

        #[test]
        fn max_min_follow_argument_order(a in any::<f64>(), b in any::<f64>()) {
            let m = py_max(a, b);
            prop_assert!(m.to_bits() == a.to_bits() || m.to_bits() == b.to_bits());
            if b.partial_cmp(&a) != Some(std::cmp::Ordering::Greater) { prop_assert_eq!(m.to_bits(), a.to_bits()); }
        }
    }
}
