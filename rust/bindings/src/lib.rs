//! `townlet._core`: the `PyO3` face of `townlet-core`. Thin wrappers only:
//! conversion, GIL release and error mapping.

// PyO3 extracts arguments by value (`Vec<T>`, readonly array handles), so the
// by-value lint only produces noise in this crate.
#![allow(clippy::needless_pass_by_value)]

use pyo3::prelude::*;

mod errors;
mod grid;
mod narration;
mod precondition;
mod sections;
mod spec;
mod telemetry;
mod world;

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", townlet_core::VERSION)?;
    m.add_function(wrap_pyfunction!(grid::distance_field, m)?)?;
    m.add_function(wrap_pyfunction!(precondition::precondition_facts, m)?)?;
    m.add_class::<precondition::Precondition>()?;
    m.add_class::<world::World>()?;
    m.add_class::<narration::Narrator>()?;
    m.add_class::<telemetry::TelemetryRecorder>()?;
    m.add_class::<telemetry::TelemetryEncoder>()?;
    m.add("ATTENDANCE_STATES", townlet_core::telemetry::ATTENDANCE_STATES.to_vec())?;
    m.add("TELEMETRY_SCHEMA_VERSION", townlet_core::telemetry::SCHEMA_VERSION)?;
    m.add("OPTIONS", townlet_core::tick::OPTIONS.to_vec())?;
    m.add("EVENT_KINDS", townlet_core::tick::EVENT_KINDS.to_vec())?;
    m.add("TRIGGER_BITS", townlet_core::lifecycle::TRIGGER_BITS.to_vec())?;
    m.add("REWARD_COMPONENTS", townlet_core::rewards::COMPONENTS.to_vec())?;
    m.add("ITEMS", townlet_core::economy::ITEMS.to_vec())?;
    m.add("PRIMITIVES", townlet_core::observe::PRIMITIVES.to_vec())?;
    m.add("OBSERVATION_VARIANTS", townlet_core::observe::VARIANTS.to_vec())?;
    Ok(())
}
