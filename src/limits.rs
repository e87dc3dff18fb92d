//! Resource limits: every input that comes from another hand is bounded, and going over a
//! bound is a clear error, never a crash, a hang or an exhausted machine. The figures are far
//! above anything real data needs (a tier file is a few kilobytes and six levels deep, a
//! formula a few hundred characters) and low enough that the worst input is answered at once.

/// Largest data file (registry, rules, pack or anchor file), in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of lists, maps and structs in a data file.
pub const MAX_DEPTH: usize = 64;

/// Longest formula, in bytes.
pub const MAX_FORMULA_BYTES: usize = 4096;

/// Deepest nesting of parentheses in a formula (the parser and the lowering recurse on it).
pub const MAX_FORMULA_NESTING: usize = 64;

/// Longest line of a batch (one JSON request), in bytes.
pub const MAX_BATCH_LINE_BYTES: usize = 1024 * 1024;

/// Most points one what-if sweep or pareto grid may evaluate (each keeps its KPIs).
pub const MAX_WHATIF_POINTS: usize = 1_000_000;

/// Most points of a counts-only sweep (each keeps four integers).
pub const MAX_WHATIF_COUNT_POINTS: usize = 16_000_000;

/// Checks a formula's length and parenthesis nesting before it reaches the parser; the
/// error says which bound was crossed and by how much.
pub fn check_formula(text: &str) -> Result<(), String> {
    if text.len() > MAX_FORMULA_BYTES {
        return Err(format!("the formula is {} bytes long; the limit is {MAX_FORMULA_BYTES} bytes", text.len()));
    }
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'(' => {
                depth += 1;
                if depth > MAX_FORMULA_NESTING {
                    return Err(format!("the formula nests parentheses more than {MAX_FORMULA_NESTING} deep"));
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_bounds() {
        assert!(check_formula("a * (b + c)").is_ok());
        let deep = format!("{}1{}", "(".repeat(MAX_FORMULA_NESTING + 1), ")".repeat(MAX_FORMULA_NESTING + 1));
        assert!(check_formula(&deep).unwrap_err().contains("more than 64 deep"));
        let ok = format!("{}1{}", "(".repeat(MAX_FORMULA_NESTING), ")".repeat(MAX_FORMULA_NESTING));
        assert!(check_formula(&ok).is_ok());
        let long = "1 + ".repeat(MAX_FORMULA_BYTES / 4 + 1) + "1";
        assert!(check_formula(&long).unwrap_err().contains("the limit is 4096 bytes"));
    }
}
