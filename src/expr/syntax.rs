//! Formula syntax: evalexpr parses the text once; the tree is converted to a small AST that
//! keeps the source offset of every name, so load-time errors point at `file:line:col`.

use evalexpr::{Node, Operator, Value};

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!b`
    Not,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+` (numbers, or string concatenation)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (always real division)
    Div,
    /// `%` (Python semantics: the sign of the divisor)
    Rem,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` (short-circuit)
    And,
    /// `||` (short-circuit)
    Or,
}

impl Expr {
    /// Visits this expression and every sub-expression, parents first (name and cycle
    /// checks of both dialects).
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Unary(_, a) => a.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            _ => {}
        }
    }
}

impl BinOp {
    /// The operator's text.
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// A formula expression. `at` fields are byte offsets into the formula text.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal (integer literals become floats).
    Num(f64),
    /// A boolean literal.
    Bool(bool),
    /// A string literal.
    Str(String),
    /// A name: an input (`hw.mem_bandwidth_gbs`), constant, formula or parameter.
    Var {
        /// The name.
        name: String,
        /// Offset in the formula text.
        at: usize,
    },
    /// A function call.
    Call {
        /// Function name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
        /// Offset in the formula text.
        at: usize,
    },
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// A parse error with the offending offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Lower-case description.
    pub message: String,
    /// Offset in the formula text, when known.
    pub at: usize,
}

/// Parses a formula with evalexpr and converts it.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    crate::limits::check_formula(text).map_err(|message| ParseError { message, at: 0 })?;
    let node = evalexpr::build_operator_tree(text).map_err(|e| ParseError {
        message: format!("cannot parse the formula: {}", lower_first(&e.to_string())),
        at: 0,
    })?;
    let mut finder = Finder { text, cursor: 0 };
    convert(&node, &mut finder)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Finds the offsets of names in the text, in the order evalexpr's tree visits them (which
/// is left to right for the trees it builds).
struct Finder<'a> {
    text: &'a str,
    cursor: usize,
}

impl Finder<'_> {
    fn find(&mut self, name: &str) -> usize {
        let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
        let mut from = self.cursor;
        while let Some(off) = self.text.get(from..).and_then(|t| t.find(name)) {
            let start = from + off;
            let end = start + name.len();
            let before_ok = self.text[..start].chars().next_back().is_none_or(|c| !is_ident(c));
            let after_ok = self.text[end..].chars().next().is_none_or(|c| !is_ident(c));
            if before_ok && after_ok {
                self.cursor = end;
                return start;
            }
            from = end;
        }
        // fall back to a search from the start (names revisited out of order)
        self.text.find(name).unwrap_or(0)
    }
}

fn convert(node: &Node, f: &mut Finder<'_>) -> Result<Expr, ParseError> {
    let kids = node.children();
    let bin = |op: BinOp, f: &mut Finder<'_>| -> Result<Expr, ParseError> {
        if kids.len() != 2 {
            return Err(ParseError { message: format!("operator `{}` needs two operands", op.text()), at: 0 });
        }
        let a = convert(&kids[0], f)?;
        let b = convert(&kids[1], f)?;
        Ok(Expr::Binary(op, Box::new(a), Box::new(b)))
    };
    match node.operator() {
        Operator::RootNode => match kids.len() {
            1 => convert(&kids[0], f),
            0 => Err(ParseError { message: "the formula is empty".into(), at: 0 }),
            _ => Err(ParseError { message: "unexpected extra expression".into(), at: 0 }),
        },
        Operator::Add => bin(BinOp::Add, f),
        Operator::Sub => bin(BinOp::Sub, f),
        Operator::Mul => bin(BinOp::Mul, f),
        Operator::Div => bin(BinOp::Div, f),
        Operator::Mod => bin(BinOp::Rem, f),
        Operator::Exp => bin(BinOp::Pow, f),
        Operator::Eq => bin(BinOp::Eq, f),
        Operator::Neq => bin(BinOp::Ne, f),
        Operator::Gt => bin(BinOp::Gt, f),
        Operator::Lt => bin(BinOp::Lt, f),
        Operator::Geq => bin(BinOp::Ge, f),
        Operator::Leq => bin(BinOp::Le, f),
        Operator::And => bin(BinOp::And, f),
        Operator::Or => bin(BinOp::Or, f),
        Operator::Neg | Operator::Not => {
            let op = if matches!(node.operator(), Operator::Neg) { UnOp::Neg } else { UnOp::Not };
            let [a] = kids else {
                return Err(ParseError { message: "a unary operator needs one operand".into(), at: 0 });
            };
            Ok(Expr::Unary(op, Box::new(convert(a, f)?)))
        }
        Operator::Const { value } => match value {
            Value::Int(i) => Ok(Expr::Num(*i as f64)),
            Value::Float(x) => Ok(Expr::Num(*x)),
            Value::Boolean(b) => Ok(Expr::Bool(*b)),
            Value::String(s) => Ok(Expr::Str(s.clone())),
            other => Err(ParseError { message: format!("unsupported literal `{other}`"), at: 0 }),
        },
        Operator::VariableIdentifierRead { identifier } => {
            let at = f.find(identifier);
            Ok(Expr::Var { name: identifier.clone(), at })
        }
        Operator::FunctionIdentifier { identifier } => {
            let at = f.find(identifier);
            let args = match kids {
                [] => Vec::new(),
                [one] => match one.operator() {
                    Operator::Tuple => one.children().iter().map(|c| convert(c, f)).collect::<Result<_, _>>()?,
                    Operator::RootNode
                        if one.children().len() == 1 && matches!(one.children()[0].operator(), Operator::Tuple) =>
                    {
                        one.children()[0].children().iter().map(|c| convert(c, f)).collect::<Result<_, _>>()?
                    }
                    Operator::RootNode if one.children().is_empty() => Vec::new(),
                    _ => vec![convert(one, f)?],
                },
                _ => return Err(ParseError { message: format!("malformed call of `{identifier}`"), at }),
            };
            Ok(Expr::Call { name: identifier.clone(), args, at })
        }
        Operator::Tuple => Err(ParseError { message: "a tuple is only allowed as function arguments".into(), at: 0 }),
        Operator::Chain => Err(ParseError { message: "`;` chains are not allowed; use named formulas".into(), at: 0 }),
        Operator::Assign
        | Operator::AddAssign
        | Operator::SubAssign
        | Operator::MulAssign
        | Operator::DivAssign
        | Operator::ModAssign
        | Operator::ExpAssign
        | Operator::AndAssign
        | Operator::OrAssign
        | Operator::VariableIdentifierWrite { .. } => {
            Err(ParseError { message: "assignments are not allowed in formulas; use named formulas".into(), at: 0 })
        }
    }
}

/// A formula name with optional parameters: `kv_cache_bytes_per_token(dtype_bytes)`.
pub fn parse_signature(s: &str) -> Result<(String, Vec<String>), String> {
    let s = s.trim();
    let valid = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    match s.split_once('(') {
        None => {
            if valid(s) {
                Ok((s.to_string(), Vec::new()))
            } else {
                Err(format!("`{s}` is not a valid formula name (letters, digits and `_`)"))
            }
        }
        Some((name, rest)) => {
            let Some(params) = rest.strip_suffix(')') else {
                return Err(format!("`{s}`: expected `)` at the end of the parameter list"));
            };
            let name = name.trim();
            if !valid(name) {
                return Err(format!("`{name}` is not a valid formula name"));
            }
            let ps: Vec<String> = params.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
            if let Some(bad) = ps.iter().find(|p| !valid(p)) {
                return Err(format!("`{bad}` is not a valid parameter name"));
            }
            Ok((name.to_string(), ps))
        }
    }
}

/// Python-like rendering of an expression (for `--explain`).
pub fn render(e: &Expr) -> String {
    match e {
        Expr::Num(x) => crate::numeric::py_float_repr(*x),
        Expr::Bool(b) => b.to_string(),
        Expr::Str(s) => format!("{s:?}"),
        Expr::Var { name, .. } => name.clone(),
        Expr::Call { name, args, .. } => format!("{name}({})", args.iter().map(render).collect::<Vec<_>>().join(", ")),
        Expr::Unary(UnOp::Neg, a) => format!("-{}", render(a)),
        Expr::Unary(UnOp::Not, a) => format!("!{}", render(a)),
        Expr::Binary(op, a, b) => format!("({} {} {})", render(a), op.text(), render(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calls_names_and_literals() {
        let e = parse("max(hw.peak_tops_int8, 1e-9) * 1000 / x").unwrap_or_else(|e| panic!("{e:?}"));
        let Expr::Binary(BinOp::Div, lhs, _) = &e else { panic!("{e:?}") };
        let Expr::Binary(BinOp::Mul, call, k) = lhs.as_ref() else { panic!("{lhs:?}") };
        assert_eq!(**k, Expr::Num(1000.0));
        let Expr::Call { name, args, at } = call.as_ref() else { panic!("{call:?}") };
        assert_eq!((name.as_str(), args.len(), *at), ("max", 2, 0));
        assert_eq!(args[1], Expr::Num(1e-9));
        assert_eq!(args[0], Expr::Var { name: "hw.peak_tops_int8".into(), at: 4 });
    }

    #[test]
    fn left_associative() {
        let e = parse("a - b - c").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(render(&e), "((a - b) - c)");
        let e = parse("a / b * c").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(render(&e), "((a / b) * c)");
    }

    #[test]
    fn calls_with_zero_one_and_many_args() {
        for (t, n) in [("f()", 0), ("f(x)", 1), ("f(x, y, z)", 3), ("f((x))", 1)] {
            let e = parse(t).unwrap_or_else(|e| panic!("{t}: {e:?}"));
            let Expr::Call { args, .. } = e else { panic!("{t}") };
            assert_eq!(args.len(), n, "{t}");
        }
    }

    #[test]
    fn rejects_assignment_and_chains() {
        assert!(parse("a = 1").is_err());
        assert!(parse("a; b").is_err());
        assert!(parse("(1 + ").is_err());
    }

    #[test]
    fn signatures() {
        assert_eq!(parse_signature("f(a, b)"), Ok(("f".into(), vec!["a".into(), "b".into()])));
        assert_eq!(parse_signature("g"), Ok(("g".into(), vec![])));
        assert!(parse_signature("f(a").is_err());
        assert!(parse_signature("a.b").is_err());
    }
}
