//! The pack's named formulas taken as a whole before any program is compiled: unknown names
//! and cycles (reported once each, whether the formula is used or not), which formulas
//! aggregate demands or read the current demand row (what decides when a parameterless one is
//! computed), and their dependency order.

use super::formula::{self, NamedFormula, Val};
use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::expr;
use crate::rules::model::Src;
use indexmap::IndexMap;

/// Every named formula, used or not: unknown names and cycles. Returns the names of the
/// formulas with an error.
pub(super) fn check_formulas(
    formulas: &IndexMap<String, NamedFormula>,
    src: &IndexMap<String, (Src, String)>,
    constants: &IndexMap<String, Val>,
    report: &mut Report,
) -> std::collections::HashSet<String> {
    let mut bad = std::collections::HashSet::new();
    for (name, f) in formulas {
        let mut errs: Vec<Diagnostic> = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Var { name: v, at } => {
                let ok = f.params.contains(v)
                    || constants.contains_key(v)
                    || formulas.get(v).is_some_and(|g| g.params.is_empty())
                    || formula::split_root(v).is_some()
                    || v.starts_with("demand.");
                if !ok && errs.is_empty() {
                    let mut cands: Vec<&str> = f.params.iter().map(String::as_str).collect();
                    cands.extend(constants.keys().map(String::as_str));
                    cands.extend(formulas.keys().map(String::as_str));
                    let d = Diagnostic::error("formula", format!("unknown variable `{v}`"))
                        .with_help(did_you_mean(v, cands));
                    errs.push(src.get(name).map_or(d.clone(), |(s, _)| s.diag(d, *at)));
                }
            }
            expr::Expr::Call { name: c, at, .. }
                if !formula::BUILTINS.contains(&c.as_str()) && !formulas.contains_key(c) && errs.is_empty() =>
            {
                let mut cands: Vec<&str> = formula::BUILTINS.to_vec();
                cands.extend(formulas.keys().map(String::as_str));
                let d =
                    Diagnostic::error("formula", format!("unknown function `{c}`")).with_help(did_you_mean(c, cands));
                errs.push(src.get(name).map_or(d.clone(), |(s, _)| s.diag(d, *at)));
            }
            _ => {}
        });
        if let Some(d) = errs.into_iter().next() {
            report.push(d);
            bad.insert(name.clone());
        }
    }
    // cycles: depth-first over formula references
    let deps = |f: &NamedFormula| {
        let mut out = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                out.push(name.clone())
            }
            _ => {}
        });
        out
    };
    let mut state: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    fn dfs(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        deps: &dyn Fn(&NamedFormula) -> Vec<String>,
        state: &mut std::collections::HashMap<String, u8>,
        path: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                if let Some(i) = path.iter().position(|p| p == n) {
                    let mut cyc = path[i..].to_vec();
                    cyc.push(n.to_string());
                    found.push(cyc);
                }
                return;
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        if let Some(f) = formulas.get(n) {
            for d in deps(f) {
                dfs(&d, formulas, deps, state, path, found);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
    }
    let mut found = Vec::new();
    for n in formulas.keys() {
        dfs(n, formulas, &deps, &mut state, &mut Vec::new(), &mut found);
    }
    for cyc in found {
        let first = &cyc[0];
        if cyc.iter().any(|c| bad.contains(c)) {
            continue;
        }
        let d = Diagnostic::error("cycle", format!("formulas form a cycle: {}", cyc.join(" → ")));
        report.push(src.get(first).map_or(d.clone(), |(s, _)| s.diag_key(d)));
        for c in cyc {
            bad.insert(c);
        }
    }
    bad
}

/// Per named formula: does it (transitively) aggregate demands, and does it read the current
/// demand row?
pub(super) fn formula_usage(
    formulas: &IndexMap<String, NamedFormula>,
) -> std::collections::HashMap<String, (bool, bool)> {
    fn visit(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        memo: &mut std::collections::HashMap<String, (bool, bool)>,
        stack: &mut Vec<String>,
    ) -> (bool, bool) {
        if let Some(u) = memo.get(n) {
            return *u;
        }
        if stack.iter().any(|s| s == n) {
            return (false, false);
        }
        let Some(f) = formulas.get(n) else { return (false, false) };
        stack.push(n.to_string());
        let mut u = (false, false);
        let mut calls = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Call { name, .. }
                if matches!(name.as_str(), "sum_demands" | "max_demands" | "count_demands") =>
            {
                u.0 = true
            }
            expr::Expr::Var { name, .. } if name.starts_with("demand.") => u.1 = true,
            expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                calls.push(name.clone())
            }
            _ => {}
        });
        for c in calls {
            let (a, b) = visit(&c, formulas, memo, stack);
            u.0 |= a;
            u.1 |= b;
        }
        stack.pop();
        memo.insert(n.to_string(), u);
        u
    }
    let mut memo = std::collections::HashMap::new();
    for n in formulas.keys() {
        visit(n, formulas, &mut memo, &mut Vec::new());
    }
    memo
}

/// Named formulas with their dependencies first.
pub(super) fn topo_order(formulas: &IndexMap<String, NamedFormula>) -> Vec<String> {
    fn visit(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        if let Some(f) = formulas.get(n) {
            let mut deps = Vec::new();
            f.expr.walk(&mut |e| match e {
                expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                    deps.push(name.clone())
                }
                _ => {}
            });
            for d in deps {
                visit(&d, formulas, seen, out);
            }
        }
        out.push(n.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for n in formulas.keys() {
        visit(n, formulas, &mut seen, &mut out);
    }
    out
}
