//! The table built-ins: `lookup_or` (string tables), `lookup_num` (numeric tables) and the
//! table names `member` and both lookups resolve at compile time.

use super::{Cx, R, as_str};
use crate::diagnostic::closest;
use crate::expr::lower::{V, first_at};
use crate::expr::{Expr, Ins};
use crate::rules::host::op;
use crate::rules::inputs::Ty;

/// The index of the `kind` (`table`, `numeric table`, `set`) named `name`, or an error with
/// the nearest name.
pub(super) fn table_index(cx: &Cx<'_>, kind: &str, name: &str, at: usize) -> R<u16> {
    let names: Vec<&str> = match kind {
        "table" => cx.d.tables.maps.iter().map(|(n, _)| n.as_str()).collect(),
        "numeric table" => cx.d.tables.nums.iter().map(|(n, _)| n.as_str()).collect(),
        _ => cx.d.tables.sets.iter().map(|(n, _)| n.as_str()).collect(),
    };
    match names.iter().position(|n| *n == name) {
        Some(i) => Ok(i as u16),
        None => {
            let mut e = cx.err(at, format!("unknown {kind} `{name}`"));
            e.help = closest(name, names.iter().copied())
                .map(|c| format!("did you mean `{c}`?"))
                .or_else(|| Some(format!("known: {}", names.join(", "))));
            Err(e)
        }
    }
}

/// `lookup_or("table", key, default)` (a string table) and `lookup_num("table", key,
/// default)` (a numeric one): folded when the key is a constant, else one `Ext`; the default
/// is evaluated only when the key is missing.
pub(super) fn lookup(cx: &mut Cx<'_>, args: &[Expr], at: usize, numeric: bool) -> R<V> {
    let arg_at = |i: usize| args.get(i).map(first_at).filter(|a| *a > 0).unwrap_or(at);
    let (name, kind, code, ty) = if numeric {
        ("lookup_num", "numeric table", op::LOOKUP_NUM, Ty::Num)
    } else {
        ("lookup_or", "table", op::LOOKUP_OR, Ty::Str)
    };
    let Expr::Str(table) = &args[0] else {
        return Err(cx.err(arg_at(0), format!("the table of `{name}` must be a string constant")));
    };
    let table = table_index(cx, kind, table, arg_at(0))?;
    let key = cx.expr(&args[1], None)?;
    if let V::S(k) = &key {
        let t = &cx.d.tables;
        let hit = if numeric {
            t.nums.get(table as usize).and_then(|(_, m)| m.get(k.as_str())).map(|v| V::N(*v))
        } else {
            t.maps.get(table as usize).and_then(|(_, m)| m.get(k.as_str())).map(|v| V::S(v.clone()))
        };
        return match hit {
            Some(v) => Ok(v),
            None => cx.expr(&args[2], None),
        };
    }
    let a = as_str(cx, key, arg_at(1), &format!("the key of `{name}`"))?;
    let d = cx.regs(2)?;
    cx.emit(Ins::Ext { op: code, n_in: 1, n_out: 2, d, a, x: table, k: 0 });
    cx.unless_found(d, |cx| {
        let v = cx.expr(&args[2], None)?;
        cx.reg_of(v, ty, &format!("the default of `{name}`"), &args[2], arg_at(2))
    })?;
    Ok(V::R(d, ty))
}
