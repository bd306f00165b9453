//! The narrator: the Python face of `townlet_core::telemetry::narration`.
//!
//! One narrator is shared by the Python side (which narrates events
//! directly, for tools and tests, and reads the throttle state for health
//! and snapshots) and the `TelemetryEncoder` (which narrates each payload's
//! events as it encodes them, with the GIL released).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use townlet_core::telemetry::narration::{
    NarrationConfig, Narrator as CoreNarrator, NarratorState, Template, SUPPRESSIONS,
};

pub type SharedNarrator = Arc<Mutex<CoreNarrator>>;

pub fn lock_narrator(n: &SharedNarrator) -> MutexGuard<'_, CoreNarrator> {
    // A panic while holding the lock leaves counters and maps usable.
    n.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn non_negative(name: &str, v: i64) -> PyResult<i64> {
    if v < 0 {
        return Err(PyValueError::new_err(format!("{name} must be >= 0, got {v}")));
    }
    Ok(v)
}

/// Applies narration templates and throttles (global and per-category
/// cooldowns, a dedupe window, a global window) to events.
///
/// `templates` lists `(event kind, category, text)`; `{field}` in a text
/// stands for the event's field (`?` when missing).
#[pyclass(module = "townlet._core", name = "Narrator")]
pub struct Narrator {
    pub inner: SharedNarrator,
}

#[pymethods]
impl Narrator {
    #[new]
    #[pyo3(signature = (
        templates,
        global_cooldown_ticks,
        category_cooldown_ticks,
        dedupe_window_ticks,
        global_window_ticks,
        global_window_limit,
        priority_categories,
    ))]
    fn new(
        templates: Vec<(String, String, String)>,
        global_cooldown_ticks: i64,
        category_cooldown_ticks: HashMap<String, i64>,
        dedupe_window_ticks: i64,
        global_window_ticks: i64,
        global_window_limit: usize,
        priority_categories: Vec<String>,
    ) -> PyResult<Self> {
        for (category, &ticks) in &category_cooldown_ticks {
            non_negative(&format!("category_cooldown_ticks[{category:?}]"), ticks)?;
        }
        let config = NarrationConfig {
            global_cooldown_ticks: non_negative("global_cooldown_ticks", global_cooldown_ticks)?,
            category_cooldown_ticks,
            dedupe_window_ticks: non_negative("dedupe_window_ticks", dedupe_window_ticks)?,
            global_window_ticks: non_negative("global_window_ticks", global_window_ticks)?,
            global_window_limit,
            priority_categories: priority_categories.into_iter().collect(),
        };
        let templates = templates
            .into_iter()
            .map(|(kind, category, text)| (kind, Template { category, text }))
            .collect();
        Ok(Narrator {
            inner: Arc::new(Mutex::new(CoreNarrator::new(config, templates))),
        })
    }

    /// The narration of an event of `kind` whose fields (as text) are
    /// `fields`, at `tick`: `(category, text, agent_id or None)`, or None
    /// when `kind` has no template or a throttle holds it back.
    fn offer(
        &self,
        kind: &str,
        fields: HashMap<String, String>,
        tick: i64,
    ) -> Option<(String, String, Option<String>)> {
        let field = |name: &str| fields.get(name).map(String::as_str);
        lock_narrator(&self.inner)
            .offer(kind, tick, field)
            .map(|n| (n.category, n.text, n.agent_id))
    }

    /// Whether events of `kind` have a template.
    fn narrates(&self, kind: &str) -> bool {
        lock_narrator(&self.inner).narrates(kind)
    }

    /// Narrations published so far.
    #[getter]
    fn emitted(&self) -> u64 {
        lock_narrator(&self.inner).state.emitted
    }

    /// Narrations held back, by throttle (`dedupe`, `category`, `global`, `window`).
    #[getter]
    fn suppressed(&self) -> HashMap<&'static str, u64> {
        let n = lock_narrator(&self.inner);
        SUPPRESSIONS.iter().copied().zip(n.state.suppressed).collect()
    }

    /// The throttle state as plain values (`last_global`, `last_category`,
    /// `last_key`, `window`, `emitted`, `suppressed`).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let n = lock_narrator(&self.inner);
        let st = &n.state;
        let d = PyDict::new(py);
        d.set_item("last_global", st.last_global)?;
        d.set_item("last_category", st.last_category.clone())?;
        d.set_item("last_key", st.last_key.clone())?;
        d.set_item("window", st.window.iter().copied().collect::<Vec<i64>>())?;
        d.set_item("emitted", st.emitted)?;
        let suppressed: HashMap<&str, u64> = SUPPRESSIONS.iter().copied().zip(st.suppressed).collect();
        d.set_item("suppressed", suppressed)?;
        Ok(d)
    }

    /// Restores `state` output.
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts owned values
    fn restore(
        &self,
        last_global: i64,
        last_category: HashMap<String, i64>,
        last_key: HashMap<String, i64>,
        window: Vec<i64>,
        emitted: u64,
        suppressed: HashMap<String, u64>,
    ) {
        let mut counts = [0u64; 4];
        for (slot, name) in counts.iter_mut().zip(SUPPRESSIONS) {
            *slot = suppressed.get(name).copied().unwrap_or(0);
        }
        lock_narrator(&self.inner).state = NarratorState {
            last_global,
            last_category,
            last_key,
            window: VecDeque::from(window),
            emitted,
            suppressed: counts,
        };
    }
}
