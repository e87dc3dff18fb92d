//! The accepted ranges of request options (a rule set's `ranges`): checked once, where every
//! interface's request becomes the rules' inputs (`Engine::inputs`), so the CLI, a batch
//! line, HTTP and Python refuse the same value with the same words.

use super::file::Range;
use super::model::RuleSet;
use super::{Defaults, Report};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::error::EngineError;
use crate::numeric::py_float_repr;

/// The request options a rule set may bound, in the order they are checked.
pub const BOUNDED: [&str; 3] = ["host_ms", "compiler_quality", "npu_share"];

/// One option's interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    lo: f64,
    hi: f64,
    lo_open: bool,
    hi_open: bool,
}

impl Bound {
    /// Every finite number.
    pub const ANY: Bound = Bound { lo: f64::NEG_INFINITY, hi: f64::INFINITY, lo_open: true, hi_open: true };

    fn of(r: &Range) -> Bound {
        Bound {
            lo: r.min.unwrap_or(f64::NEG_INFINITY),
            hi: r.max.unwrap_or(f64::INFINITY),
            lo_open: r.exclusive_min || r.min.is_none(),
            hi_open: r.exclusive_max || r.max.is_none(),
        }
    }

    /// True when `x` is finite and inside.
    #[inline(always)]
    pub fn holds(&self, x: f64) -> bool {
        x.is_finite()
            && (if self.lo_open { x > self.lo } else { x >= self.lo })
            && (if self.hi_open { x < self.hi } else { x <= self.hi })
    }

    /// The interval in mathematical notation: `(0, 1]`, `[0, ∞)`.
    pub fn text(&self) -> String {
        let end = |x: f64| {
            if x.is_infinite() { if x < 0.0 { "-∞".into() } else { "∞".into() } } else { py_float_repr(x) }
        };
        format!(
            "{}{}, {}{}",
            if self.lo_open { '(' } else { '[' },
            end(self.lo),
            end(self.hi),
            if self.hi_open { ')' } else { ']' }
        )
    }
}

/// The string options a rule set may restrict to a list of values. A workload id is also
/// accepted when the data names it elsewhere (a pack workload, a tier's measured cells).
pub const CHOSEN: [&str; 2] = ["fp4_runtime_maturity", "workload_id"];

/// The bounds of [`BOUNDED`], in that order, and the accepted values of [`CHOSEN`] (empty:
/// any).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    /// Bounds of the numeric options.
    pub bounds: [Bound; 3],
    /// Accepted values of the string options.
    pub choices: [Vec<String>; 2],
}

impl Default for Ranges {
    fn default() -> Self {
        Ranges { bounds: [Bound::ANY; 3], choices: [Vec::new(), Vec::new()] }
    }
}

impl Ranges {
    /// Checks the given options (host time, compiler quality, NPU share; FP4 runtime
    /// maturity); the first one outside its range is named with its value and the range.
    #[inline(always)]
    pub fn check(&self, values: [Option<f64>; 3], maturity: Option<&str>) -> Result<(), EngineError> {
        let ok = |i: usize| values[i].is_none_or(|x| self.bounds[i].holds(x));
        if !(ok(0) && ok(1) && ok(2)) {
            return Err(self.refusal(values));
        }
        match maturity {
            Some(m) if !self.choices[0].is_empty() && !self.choices[0].iter().any(|c| c == m) => {
                Err(self.not_a_choice(0, m))
            }
            _ => Ok(()),
        }
    }

    /// Checks a workload id against the rule set's choices, then against `more` (the ids the
    /// data names elsewhere), which is only asked for when the choices miss.
    #[inline(always)]
    pub fn check_workload<'m>(&self, id: &str, more: impl FnOnce() -> Vec<&'m str>) -> Result<(), EngineError> {
        let c = &self.choices[1];
        if c.is_empty() || c.iter().any(|x| x == id) {
            return Ok(());
        }
        let more = more();
        if more.contains(&id) { Ok(()) } else { Err(self.unknown_workload(id, &more)) }
    }

    #[cold]
    #[inline(never)]
    fn unknown_workload(&self, id: &str, more: &[&str]) -> EngineError {
        let mut known: Vec<&str> = self.choices[1].iter().map(String::as_str).collect();
        known.extend(more.iter().filter(|m| !self.choices[1].iter().any(|c| c == *m)));
        let help = did_you_mean(id, known.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
        EngineError::UnknownKey(format!("unknown workload `{id}`{help}; known: {}", known.join(", ")))
    }

    #[cold]
    #[inline(never)]
    fn not_a_choice(&self, i: usize, v: &str) -> EngineError {
        let c = &self.choices[i];
        let list = c.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(" or ");
        let help = did_you_mean(v, c.iter().map(String::as_str)).map(|h| format!(" ({h})")).unwrap_or_default();
        EngineError::InvalidValue(format!("`{}` must be {list}, found `{v}`{help}", CHOSEN[i]))
    }

    #[cold]
    #[inline(never)]
    fn refusal(&self, values: [Option<f64>; 3]) -> EngineError {
        for (i, v) in values.iter().enumerate() {
            if let Some(x) = v {
                let b = &self.bounds[i];
                if !x.is_finite() {
                    return EngineError::InvalidValue(format!("`{}` must be a finite number", BOUNDED[i]));
                }
                if !b.holds(*x) {
                    return EngineError::InvalidValue(format!(
                        "`{}` must be in {}, found {}",
                        BOUNDED[i],
                        b.text(),
                        py_float_repr(*x)
                    ));
                }
            }
        }
        EngineError::InvalidValue("a request option is out of range".into())
    }
}

/// The rule set's ranges, checked: known option names, sound intervals, and defaults inside.
pub(super) fn ranges(rs: &RuleSet, d: &Defaults, report: &mut Report) -> Option<Ranges> {
    let mut out = Ranges::default();
    let before = report.errors();
    for (k, (r, src)) in &rs.ranges {
        let Some(i) = BOUNDED.iter().position(|b| b == k) else {
            report.push(
                src.diag_key(Diagnostic::error("rules", format!("no range can be given for `{k}`")))
                    .with_help(did_you_mean(k, BOUNDED).or(Some(format!("ranges apply to: {}", BOUNDED.join(", "))))),
            );
            continue;
        };
        if r.min.is_some_and(|x| !x.is_finite()) || r.max.is_some_and(|x| !x.is_finite()) {
            report.push(
                src.diag(Diagnostic::error("rules", format!("the range of `{k}` has a bound that is not finite")), 0),
            );
            continue;
        }
        if let (Some(lo), Some(hi)) = (r.min, r.max) {
            if lo > hi || (lo == hi && (r.exclusive_min || r.exclusive_max)) {
                report.push(src.diag(Diagnostic::error("rules", format!("the range of `{k}` is empty")), 0));
                continue;
            }
        }
        out.bounds[i] = Bound::of(r);
    }
    for (k, (values, src)) in &rs.choices {
        let Some(i) = CHOSEN.iter().position(|b| b == k) else {
            report.push(
                src.diag_key(Diagnostic::error("rules", format!("no choices can be given for `{k}`")))
                    .with_help(did_you_mean(k, CHOSEN).or(Some(format!("choices apply to: {}", CHOSEN.join(", "))))),
            );
            continue;
        };
        if values.is_empty() {
            report.push(src.diag(Diagnostic::error("rules", format!("the choices of `{k}` are empty")), 0));
            continue;
        }
        out.choices[i] = values.clone();
    }
    // a default outside its own range would refuse every request that leaves it out
    for (i, x) in [(0, d.host_ms), (1, d.compiler_quality)] {
        if report.errors() == before && !out.bounds[i].holds(x) {
            let src = rs.defaults.get(BOUNDED[i]).map_or(&rs.root_src, |(_, s)| s);
            report.push(src.diag(
                Diagnostic::error(
                    "rules",
                    format!(
                        "default `{}` = {} is outside its range {}",
                        BOUNDED[i],
                        py_float_repr(x),
                        out.bounds[i].text()
                    ),
                ),
                0,
            ));
        }
    }
    let m = &d.fp4_runtime_maturity;
    if report.errors() == before && !out.choices[0].is_empty() && !out.choices[0].contains(m) {
        let src = rs.defaults.get(CHOSEN[0]).map_or(&rs.root_src, |(_, s)| s);
        report.push(
            src.diag(
                Diagnostic::error("rules", format!("default `{}` = `{m}` is not one of its choices", CHOSEN[0])),
                0,
            ),
        );
    }
    (report.errors() == before).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_text() {
        let unit = Bound::of(&Range { min: Some(0.0), max: Some(1.0), exclusive_min: true, exclusive_max: false });
        assert_eq!(unit.text(), "(0.0, 1.0]");
        for (x, ok) in [(0.0, false), (1e-12, true), (1.0, true), (1.0000001, false), (f64::NAN, false), (-1.0, false)]
        {
            assert_eq!(unit.holds(x), ok, "{x}");
        }
        let nonneg = Bound::of(&Range { min: Some(0.0), ..Default::default() });
        assert_eq!(nonneg.text(), "[0.0, ∞)");
        assert!(nonneg.holds(0.0) && nonneg.holds(1e300) && !nonneg.holds(f64::INFINITY) && !nonneg.holds(-1.0));
        let r =
            Ranges { bounds: [nonneg, unit, unit], choices: [vec!["mature".into(), "immature".into()], Vec::new()] };
        assert!(r.check([None, None, None], None).is_ok());
        assert!(r.check([Some(0.0), Some(1.0), Some(0.5)], Some("immature")).is_ok());
        assert_eq!(
            r.check([Some(1.0), Some(-1.0), Some(5.0)], None).unwrap_err().to_string(),
            EngineError::InvalidValue("`compiler_quality` must be in (0.0, 1.0], found -1.0".into()).to_string()
        );
        assert!(r.check([None, None, None], Some("matrue")).unwrap_err().to_string().contains("did you mean `mature`"));
    }
}
