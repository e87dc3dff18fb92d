//! The names the rules dialect defines itself: the fields each outcome of a projection has
//! (what the engine reads by name from a rule set's outputs) and the built-in functions.
//! Both the rule-set model (validation) and the compiler read them.

use super::inputs::Ty;

/// The fields of the feasibility outcome.
pub const FEASIBILITY_FIELDS: &[(&str, Ty)] = &[
    ("verdict", Ty::Str),
    ("required_gb", Ty::Num),
    ("available_gb", Ty::Num),
    ("headroom_gb", Ty::Num),
    ("weights_gb", Ty::Num),
    ("kv_cache_gb", Ty::Num),
    ("overhead_gb", Ty::Num),
];

/// The fields of a projected result that a path computes (`decode_ceiling_tok_s` optional).
pub const PROJECTED_FIELDS: &[(&str, Ty)] = &[
    ("decode_tok_s", Ty::Num),
    ("prefill_tok_s", Ty::Num),
    ("ttft_s", Ty::Num),
    ("decode_s", Ty::Num),
    ("prefill_s", Ty::Num),
    ("total_s", Ty::Num),
    ("host_ms", Ty::Num),
    ("regime", Ty::Str),
    ("decode_ceiling_tok_s", Ty::Num),
];

/// The fields of a dtype-mismatch outcome.
pub const MISMATCH_FIELDS: &[(&str, Ty)] =
    &[("required_dtype", Ty::Str), ("tier_capability", Ty::Str), ("retargeting_hint", Ty::Str)];

/// The built-in functions: (name, arity, signature shown in messages).
pub const BUILTINS: &[(&str, usize, &str)] = &[
    ("max", 2, "max(number, number) -> number"),
    ("min", 2, "min(number, number) -> number"),
    ("abs", 1, "abs(number) -> number"),
    ("floor", 1, "floor(number) -> number"),
    ("ceil", 1, "ceil(number) -> number"),
    ("sqrt", 1, "sqrt(number) -> number"),
    ("round", 2, "round(number, digits) -> number"),
    ("if", 3, "if(condition, then, else)"),
    ("has", 1, "has(optional name) -> boolean"),
    ("lower", 1, "lower(string) -> string"),
    ("str", 1, "str(number) -> string"),
    ("str_int", 1, "str_int(number) -> string (a whole number without `.0`)"),
    ("peak_tops", 1, "peak_tops(dtype) -> number"),
    ("published_peak_tops", 1, "published_peak_tops(dtype) -> number (the tier's cited vendor peak where it has one)"),
    ("has_tops_field", 1, "has_tops_field(dtype) -> boolean"),
    ("capability", 1, "capability(key) -> string"),
    ("capability_via", 1, "capability_via(key) -> string"),
    ("lookup_or", 3, "lookup_or(\"table\", key, default) -> string"),
    ("lookup_num", 3, "lookup_num(\"table\", key, default) -> number"),
    ("member", 2, "member(\"set\", key) -> boolean"),
];
