//! Checks of the architecture table (`tables/architectures.ron`): the importer's quantities,
//! quant methods, architectures' layer patterns, recipes and KV-cache types.

use super::{did_you_mean, k, version_check};
use crate::diagnostic::{Diagnostic, Report};
use crate::document::PathSeg;
use crate::formats::architectures::ArchitectureTable;
use crate::precision::QuantSchemeTable;
use crate::registry::read::ParsedFile;
use indexmap::IndexMap;

/// Checks the architecture table: every quantity the importer reads has config keys, the
/// schemes it names are in the quant table, the groups it names exist.
pub(crate) fn architectures(
    pf: &ParsedFile,
    t: &ArchitectureTable,
    quant: Option<(&ParsedFile, &QuantSchemeTable)>,
    report: &mut Report,
) {
    use crate::formats::architectures::{GROUPS, PatternKind, QUANTITIES};
    version_check(pf, t.schema_version, report);
    for q in QUANTITIES {
        if t.keys.get(*q).is_none_or(|k| k.is_empty()) {
            report.push(pf.diag_at(
                Diagnostic::error(
                    "missing-key",
                    format!("`keys` gives no config key for `{q}`, which the importer reads"),
                ),
                &[k("keys")],
            ));
        }
    }
    for name in t.keys.keys() {
        if !QUANTITIES.contains(&name.as_str()) {
            report.push(
                pf.diag_at_key(
                    Diagnostic::error("unknown-key", format!("`{name}` is not a quantity the importer reads"))
                        .with_help(did_you_mean(name, QUANTITIES.iter().copied())),
                    &[k("keys")],
                    name,
                ),
            );
        }
    }
    if let Some((qf, q)) = quant {
        let mut named: Vec<(Vec<PathSeg>, &String)> = Vec::new();
        for (m, s) in &t.quant_methods {
            named.push((vec![k("quant_methods"), k(m), k("scheme")], &s.scheme));
            if let Some(u) = &s.unconverted {
                named.push((vec![k("quant_methods"), k(m), k("unconverted")], u));
            }
        }
        named.extend(t.torch_dtypes.iter().map(|(d, s)| (vec![k("torch_dtypes"), k(d)], s)));
        recipes(qf, t, &q.schemes, "schemes", report);
        for name in t.gguf_schemes.keys() {
            if q.schemes.contains_key(name) {
                report.push(pf.diag_at_key(
                    Diagnostic::error("duplicate", format!("`{name}` is a scheme of quant_schemes.ron too; keep one")),
                    &[k("gguf_schemes")],
                    name,
                ));
            }
        }
        recipes(pf, t, &t.gguf_schemes, "gguf_schemes", report);
        for (at, scheme) in named {
            if !q.schemes.contains_key(scheme) {
                report.push(
                    pf.diag_at(
                        Diagnostic::error("unknown-reference", format!("unknown quant scheme `{scheme}`"))
                            .with_help(did_you_mean(scheme, q.schemes.keys().map(String::as_str))),
                        &at,
                    ),
                );
            }
        }
    }
    for (pattern, group) in &t.module_groups {
        if !GROUPS.contains(&group.as_str()) {
            report.push(
                pf.diag_at(
                    Diagnostic::error("unknown-reference", format!("unknown tensor group `{group}`"))
                        .with_help(did_you_mean(group, GROUPS.iter().copied())),
                    &[k("module_groups"), k(pattern)],
                ),
            );
        }
    }
    for (name, a) in &t.architectures {
        let at = [k("architectures"), k(name), k("layers")];
        let l = &a.layers;
        if l.n == Some(0) {
            report.push(pf.diag_at(Diagnostic::error("range", "`n` is `0`; it must be > 0"), &at));
        }
        let nth = l.pattern == PatternKind::EveryNthFull;
        if nth && l.others.is_none() {
            report.push(pf.diag_at(Diagnostic::error("missing-key", "`every_nth_full` needs `others`"), &at));
        }
        if nth && l.key.is_none() && l.n.is_none() {
            report.push(pf.diag_at(Diagnostic::error("missing-key", "`every_nth_full` needs `key` or `n`"), &at));
        }
        if !nth && (l.key.is_some() || l.n.is_some() || l.others.is_some()) {
            report.push(
                pf.diag_at(Diagnostic::error("value", "`key`, `n` and `others` belong to `every_nth_full`"), &at),
            );
        }
        if l.pattern != PatternKind::AllSliding && l.when.is_some() {
            report.push(pf.diag_at(Diagnostic::error("value", "`when` belongs to `all_sliding`"), &at));
        }
        if l.others == Some(crate::formats::architectures::LayerKind::State) && a.state.is_none() {
            report.push(pf.diag_at(Diagnostic::error("missing-key", "state layers need a `state` block"), &at));
        }
    }
    kv_cache_types(pf, t, report);
}

/// Each KV-cache type is a lower-case name with one width: a ggml type the table lists, or a
/// positive, finite number of bytes per element.
fn kv_cache_types(pf: &ParsedFile, t: &ArchitectureTable, report: &mut Report) {
    let types: Vec<&str> = t.ggml_types.iter().map(|g| g.name.as_str()).collect();
    for (name, c) in &t.kv_cache_types {
        let at = |f: &str| [k("kv_cache_types"), k(name), k(f)];
        if name.to_lowercase() != *name {
            report.push(pf.diag_at_key(
                Diagnostic::error("value", format!("KV-cache type `{name}` must be lower-case, as requests name it")),
                &[k("kv_cache_types")],
                name,
            ));
        }
        match (&c.ggml_type, c.bytes_per_element) {
            (Some(_), Some(_)) | (None, None) => report.push(pf.diag_at(
                Diagnostic::error(
                    "value",
                    format!("KV-cache type `{name}` needs exactly one of `ggml_type` and `bytes_per_element`"),
                ),
                &[k("kv_cache_types"), k(name)],
            )),
            (Some(g), None) if !types.contains(&g.as_str()) => report.push(
                pf.diag_at(
                    Diagnostic::error(
                        "unknown-reference",
                        format!("KV-cache type `{name}` names ggml type `{g}`, which `ggml_types` lacks"),
                    )
                    .with_help(did_you_mean(g, types.iter().copied())),
                    &at("ggml_type"),
                ),
            ),
            (None, Some(b)) if !(b.is_finite() && b > 0.0) => report.push(pf.diag_at(
                Diagnostic::error(
                    "range",
                    format!(
                        "`bytes_per_element` is `{}`; it must be a positive number",
                        crate::numeric::py_float_repr(b)
                    ),
                ),
                &at("bytes_per_element"),
            )),
            _ => {}
        }
    }
}

/// The recipes of `schemes` (at `field` of `qf`) name ggml types of the architecture table
/// and known roles.
fn recipes(
    qf: &ParsedFile,
    t: &ArchitectureTable,
    schemes: &IndexMap<String, crate::precision::QuantScheme>,
    field: &str,
    report: &mut Report,
) {
    use crate::formats::architectures::ROLES;
    let types: Vec<&str> = t.ggml_types.iter().map(|g| g.name.as_str()).collect();
    for (name, s) in schemes {
        let Some(r) = &s.recipe else { continue };
        let at = |i: Option<usize>, f: &str| {
            let mut p = vec![k(field), k(name), k("recipe")];
            if let Some(i) = i {
                p.push(k("rules"));
                p.push(PathSeg::Index(i));
            }
            p.push(k(f));
            p
        };
        let named = std::iter::once((None, &r.base, "base"))
            .chain(r.rules.iter().enumerate().map(|(i, x)| (Some(i), &x.ggml_type, "type")));
        for (i, ty, field) in named {
            if !types.contains(&ty.as_str()) {
                report.push(
                    qf.diag_at(
                        Diagnostic::error(
                            "unknown-reference",
                            format!("quant scheme `{name}`'s recipe names ggml type `{ty}`, which `ggml_types` lacks"),
                        )
                        .with_help(did_you_mean(ty, types.iter().copied())),
                        &at(i, field),
                    ),
                );
            }
        }
        for (i, rule) in r.rules.iter().enumerate() {
            if !ROLES.contains(&rule.role.as_str()) {
                report.push(
                    qf.diag_at(
                        Diagnostic::error(
                            "unknown-reference",
                            format!("quant scheme `{name}`'s recipe names tensor role `{}`", rule.role),
                        )
                        .with_help(did_you_mean(&rule.role, ROLES.iter().copied())),
                        &at(Some(i), "role"),
                    ),
                );
            }
        }
    }
}
