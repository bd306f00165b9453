//! Precondition programs and the fact table.

use pyo3::prelude::*;
use townlet_core::precondition::{FactType, Program, FACTS};

use crate::errors::IntoPy;

/// The facts a precondition may read, in fact-id order, as
/// `(name, scope, type, enum_values, doc)` tuples.
#[pyfunction]
pub fn precondition_facts() -> Vec<(String, String, String, Vec<String>, String)> {
    FACTS
        .iter()
        .map(|f| {
            let (ty, values) = match f.ty {
                FactType::Bool => ("bool", Vec::new()),
                FactType::Number => ("number", Vec::new()),
                FactType::Enum(v) => ("enum", v.iter().map(|s| (*s).to_string()).collect()),
            };
            (
                f.name.to_string(),
                f.scope.name().to_string(),
                ty.to_string(),
                values,
                f.doc.to_string(),
            )
        })
        .collect()
}

/// A compiled precondition program, validated on construction.
#[pyclass(module = "townlet._core", frozen)]
pub struct Precondition {
    program: Program,
}

#[pymethods]
impl Precondition {
    /// Builds a program from `(opcode, argument)` pairs; raises
    /// `townlet.errors.PreconditionError` when it is malformed.
    #[new]
    fn new(codes: Vec<u8>, args: Vec<f64>) -> PyResult<Self> {
        Ok(Precondition {
            program: Program::decode(&codes, &args).py()?,
        })
    }

    /// Evaluates the program against facts indexed by fact id.
    fn eval(&self, facts: Vec<f64>) -> bool {
        self.program.eval(&facts)
    }

    /// Number of instructions.
    fn __len__(&self) -> usize {
        self.program.ops().len()
    }

    /// Fact ids the program reads, in instruction order.
    fn facts_read(&self) -> Vec<u16> {
        self.program.facts_read().collect()
    }
}
