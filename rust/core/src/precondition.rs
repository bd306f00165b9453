//! Compiled affordance preconditions.
//!
//! Python parses the manifest's expression language (no `eval`) and compiles
//! each precondition to a postfix program over numeric facts. The core runs
//! the program against the facts of one (agent, object, world) triple.
//! Booleans are `0.0` / `1.0`; enum facts (weather) are small integers.
//!
//! The fact table below is the single source of fact names: the bindings
//! publish it and the Python compiler resolves names against it.

use crate::error::{CoreError, CoreResult};

/// Which part of the world a fact describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactScope {
    Object,
    World,
    Agent,
}

impl FactScope {
    /// The scope's name as written in qualified fact names (`object.occupied`).
    pub fn name(self) -> &'static str {
        match self {
            FactScope::Object => "object",
            FactScope::World => "world",
            FactScope::Agent => "agent",
        }
    }
}

/// The value type of a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactType {
    Bool,
    Number,
    /// An enum, with its allowed symbols in code order.
    Enum(&'static [&'static str]),
}

/// Weather symbols in code order.
pub const WEATHER: &[&str] = &["sunny", "rainy", "cold"];

/// One named fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactDef {
    pub name: &'static str,
    pub scope: FactScope,
    pub ty: FactType,
    pub doc: &'static str,
}

macro_rules! fact {
    ($name:literal, $scope:ident, $ty:expr, $doc:literal) => {
        FactDef {
            name: $name,
            scope: FactScope::$scope,
            ty: $ty,
            doc: $doc,
        }
    };
}

/// Every fact a precondition may read, indexed by fact id.
pub const FACTS: &[FactDef] = &[
    fact!(
        "occupied",
        Object,
        FactType::Bool,
        "another agent holds the object's reservation"
    ),
    fact!(
        "stock",
        Object,
        FactType::Number,
        "units in stock at the object's venue for the item it sells"
    ),
    fact!(
        "queue_length",
        Object,
        FactType::Number,
        "agents waiting in the object's queue"
    ),
    fact!(
        "venue_open",
        Object,
        FactType::Bool,
        "the object's venue is open (not closed by a perturbation)"
    ),
    fact!("power_on", World, FactType::Bool, "the power utility is up"),
    fact!("water_on", World, FactType::Bool, "the water utility is up"),
    fact!("weather", World, FactType::Enum(WEATHER), "current weather"),
    fact!("hour", World, FactType::Number, "hour of the in-game day in [0, 24)"),
    fact!("hunger", Agent, FactType::Number, "hunger satiation in [0, 1]"),
    fact!("hygiene", Agent, FactType::Number, "hygiene satiation in [0, 1]"),
    fact!("energy", Agent, FactType::Number, "energy satiation in [0, 1]"),
    fact!("wallet", Agent, FactType::Number, "money held, in meals"),
    fact!("has_job", Agent, FactType::Bool, "the agent has a job"),
    fact!(
        "on_shift",
        Agent,
        FactType::Bool,
        "the agent's shift window is open now"
    ),
    fact!(
        "at_work",
        Agent,
        FactType::Bool,
        "the object is at the agent's workplace"
    ),
    fact!("at_home", Agent, FactType::Bool, "the object is in the agent's home"),
    fact!("food_raw", Agent, FactType::Number, "raw food items in inventory"),
    fact!("meal", Agent, FactType::Number, "ready meals in inventory"),
    fact!("clothes_clean", Agent, FactType::Number, "clean clothes in inventory"),
];

/// Looks a fact id up by name.
pub fn fact_id(name: &str) -> Option<u16> {
    FACTS.iter().position(|f| f.name == name).map(|i| i as u16)
}

/// Postfix instructions. Binary operators pop `b` then `a` and push `a op b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Const(f64),
    Fact(u16),
    Not,
    Neg,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Decodes an `(opcode, argument)` pair as produced by the Python compiler.
    pub fn decode(code: u8, arg: f64) -> CoreResult<Op> {
        Ok(match code {
            0 => Op::Const(arg),
            1 => {
                if arg < 0.0 || arg.fract() != 0.0 || arg as usize >= FACTS.len() {
                    return Err(CoreError::Program(format!("unknown fact id {arg}")));
                }
                Op::Fact(arg as u16)
            }
            2 => Op::Not,
            3 => Op::Neg,
            4 => Op::And,
            5 => Op::Or,
            6 => Op::Eq,
            7 => Op::Ne,
            8 => Op::Lt,
            9 => Op::Le,
            10 => Op::Gt,
            11 => Op::Ge,
            other => return Err(CoreError::Program(format!("unknown opcode {other}"))),
        })
    }

    fn stack_effect(self) -> (usize, usize) {
        match self {
            Op::Const(_) | Op::Fact(_) => (0, 1),
            Op::Not | Op::Neg => (1, 1),
            _ => (2, 1),
        }
    }
}

/// Deepest stack a program may use.
pub const MAX_DEPTH: usize = 16;

/// A validated precondition program. An empty program is always true.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    ops: Vec<Op>,
}

fn truthy(v: f64) -> bool {
    v != 0.0
}

fn boolean(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Program {
    /// Validates stack discipline (no underflow, depth <= [`MAX_DEPTH`],
    /// exactly one value left) and builds the program.
    pub fn new(ops: Vec<Op>) -> CoreResult<Program> {
        let mut depth = 0usize;
        for (i, op) in ops.iter().enumerate() {
            let (pop, push) = op.stack_effect();
            if depth < pop {
                return Err(CoreError::Program(format!("stack underflow at instruction {i}")));
            }
            depth = depth - pop + push;
            if depth > MAX_DEPTH {
                return Err(CoreError::Program(format!("expression deeper than {MAX_DEPTH}")));
            }
            if let Op::Const(c) = op {
                if !c.is_finite() {
                    return Err(CoreError::Program(format!("non-finite constant at instruction {i}")));
                }
            }
        }
        if !ops.is_empty() && depth != 1 {
            return Err(CoreError::Program(format!("program leaves {depth} values, expected 1")));
        }
        Ok(Program { ops })
    }

    /// Builds a program from encoded `(opcode, argument)` pairs.
    pub fn decode(codes: &[u8], args: &[f64]) -> CoreResult<Program> {
        if codes.len() != args.len() {
            return Err(CoreError::Shape {
                what: "program arguments".into(),
                expected: codes.len().to_string(),
                got: args.len().to_string(),
            });
        }
        let ops = codes
            .iter()
            .zip(args)
            .map(|(&c, &a)| Op::decode(c, a))
            .collect::<CoreResult<Vec<_>>>()?;
        Program::new(ops)
    }

    /// The instructions.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The fact ids the program reads.
    pub fn facts_read(&self) -> impl Iterator<Item = u16> + '_ {
        self.ops
            .iter()
            .filter_map(|op| if let Op::Fact(f) = op { Some(*f) } else { None })
    }

    /// Evaluates against `facts` (indexed by fact id). Never allocates.
    pub fn eval(&self, facts: &[f64]) -> bool {
        if self.ops.is_empty() {
            return true;
        }
        let mut stack = [0.0f64; MAX_DEPTH];
        let mut sp = 0usize;
        for op in &self.ops {
            match *op {
                Op::Const(c) => {
                    stack[sp] = c;
                    sp += 1;
                }
                Op::Fact(f) => {
                    stack[sp] = facts.get(f as usize).copied().unwrap_or(0.0);
                    sp += 1;
                }
                Op::Not => stack[sp - 1] = boolean(!truthy(stack[sp - 1])),
                Op::Neg => stack[sp - 1] = -stack[sp - 1],
                bin => {
                    let b = stack[sp - 1];
                    let a = stack[sp - 2];
                    sp -= 1;
                    stack[sp - 1] = match bin {
                        Op::And => boolean(truthy(a) && truthy(b)),
                        Op::Or => boolean(truthy(a) || truthy(b)),
                        Op::Eq => boolean((a - b).abs() < 1e-9),
                        Op::Ne => boolean((a - b).abs() >= 1e-9),
                        Op::Lt => boolean(a < b),
                        Op::Le => boolean(a <= b),
                        Op::Gt => boolean(a > b),
                        Op::Ge => boolean(a >= b),
                        _ => unreachable!("unary and push ops handled above"),
                    };
                }
            }
        }
        truthy(stack[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> Vec<f64> {
        let mut f = vec![0.0; FACTS.len()];
        f[fact_id("power_on").unwrap() as usize] = 1.0;
        f[fact_id("wallet").unwrap() as usize] = 2.5;
        f
    }

    #[test]
    fn evaluates_comparisons_and_logic() {
        let occ = f64::from(fact_id("occupied").unwrap());
        let pw = f64::from(fact_id("power_on").unwrap());
        let wal = f64::from(fact_id("wallet").unwrap());
        // occupied == false and power_on == true and wallet >= 1
        let p = Program::decode(
            &[1, 0, 6, 1, 0, 6, 4, 1, 0, 11, 4],
            &[occ, 0.0, 0.0, pw, 1.0, 0.0, 0.0, wal, 1.0, 0.0, 0.0],
        )
        .unwrap();
        assert!(p.eval(&facts()));
        let mut f = facts();
        f[fact_id("occupied").unwrap() as usize] = 1.0;
        assert!(!p.eval(&f));
        assert_eq!(p.facts_read().count(), 3);
    }

    #[test]
    fn empty_program_is_true() {
        assert!(Program::default().eval(&[]));
    }

    #[test]
    fn rejects_malformed_programs() {
        assert!(Program::decode(&[4], &[0.0]).is_err());
        assert!(Program::decode(&[0, 0], &[1.0, 1.0]).is_err());
        assert!(Program::decode(&[1], &[999.0]).is_err());
        assert!(Program::decode(&[42], &[0.0]).is_err());
        assert!(Program::decode(&[0], &[f64::NAN]).is_err());
        assert!(Program::decode(&[0], &[]).is_err());
        let deep: Vec<u8> = vec![0; MAX_DEPTH + 1];
        assert!(Program::decode(&deep, &[1.0; MAX_DEPTH + 1]).is_err());
    }

    #[test]
    fn fact_names_are_unique() {
        for (i, f) in FACTS.iter().enumerate() {
            assert_eq!(fact_id(f.name), Some(i as u16));
        }
    }

    /// A tiny expression tree, evaluated directly, as a reference.
    #[derive(Debug, Clone)]
    enum Expr {
        C(f64),
        F(u16),
        Not(Box<Expr>),
        Bin(u8, Box<Expr>, Box<Expr>),
    }

    fn reference(e: &Expr, facts: &[f64]) -> f64 {
        match e {
            Expr::C(c) => *c,
            Expr::F(f) => facts[*f as usize],
            Expr::Not(a) => boolean(!truthy(reference(a, facts))),
            Expr::Bin(op, a, b) => {
                let (a, b) = (reference(a, facts), reference(b, facts));
                match op {
                    4 => boolean(truthy(a) && truthy(b)),
                    5 => boolean(truthy(a) || truthy(b)),
                    6 => boolean((a - b).abs() < 1e-9),
                    8 => boolean(a < b),
                    _ => boolean(a >= b),
                }
            }
        }
    }

    fn compile(e: &Expr, out: &mut Vec<(u8, f64)>) {
        match e {
            Expr::C(c) => out.push((0, *c)),
            Expr::F(f) => out.push((1, f64::from(*f))),
            Expr::Not(a) => {
                compile(a, out);
                out.push((2, 0.0));
            }
            Expr::Bin(op, a, b) => {
                compile(a, out);
                compile(b, out);
                out.push((*op, 0.0));
            }
        }
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (-3i32..3).prop_map(|c| Expr::C(f64::from(c))),
            (0u16..FACTS.len() as u16).prop_map(Expr::F)
        ];
        leaf.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Expr::Not(Box::new(a))),
                (prop::sample::select(vec![4u8, 5, 6, 8, 11]), inner.clone(), inner).prop_map(|(op, a, b)| Expr::Bin(
                    op,
                    Box::new(a),
                    Box::new(b)
                )),
            ]
        })
    }

    proptest! {
        #[test]
        fn postfix_matches_tree(e in expr(), vals in proptest::collection::vec(-2i32..3, FACTS.len())) {
            let facts: Vec<f64> = vals.into_iter().map(f64::from).collect();
            let mut code = Vec::new();
            compile(&e, &mut code);
            let (ops, args): (Vec<u8>, Vec<f64>) = code.into_iter().unzip();
            let p = Program::decode(&ops, &args).unwrap();
            prop_assert_eq!(p.eval(&facts), truthy(reference(&e, &facts)));
        }
    }
}
