//! Telemetry frames and payload encoding: the Python face of `townlet_core::telemetry`.
//!
//! `TelemetryRecorder.capture` runs on the tick thread (one call, a few
//! microseconds); `TelemetryEncoder.encode` runs on the telemetry worker
//! with the GIL released, so building and writing payloads does not hold
//! up the tick thread.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use townlet_core::telemetry::{Encoder, Frame, FrameEvent, Labels, Names, Plan, Row, Table, N_COLUMNS};
use townlet_core::tick::EVENT_KINDS;

use crate::world::World;

/// One published tick as captured on the tick thread (consumed by `TelemetryEncoder.encode`).
#[pyclass(module = "townlet._core")]
pub struct TelemetryFrame {
    inner: Option<Frame>,
    tick: u64,
    detail: bool,
    population: usize,
    narratable: bool,
}

impl TelemetryFrame {
    fn wrap(frame: Frame, narrated: u32) -> TelemetryFrame {
        TelemetryFrame {
            tick: frame.tick,
            detail: frame.detail,
            population: frame.uids.len(),
            narratable: frame.events.iter().any(|e| narrated & (1 << e.kind) != 0),
            inner: Some(frame),
        }
    }
}

#[pymethods]
impl TelemetryFrame {
    /// A frame from explicit values (tools and tests): `uids` and an
    /// `(agents, 14)` int64 matrix of quantised columns.
    #[staticmethod]
    #[pyo3(signature = (tick, uids, rows, detail=true))]
    fn from_rows(tick: u64, uids: Vec<u64>, rows: PyReadonlyArray2<'_, i64>, detail: bool) -> PyResult<Self> {
        if rows.shape() != [uids.len(), N_COLUMNS] {
            return Err(PyValueError::new_err(format!(
                "rows must be ({}, {N_COLUMNS}), got {:?}",
                uids.len(),
                rows.shape()
            )));
        }
        let flat = rows.as_array();
        let rows: Vec<Row> = flat.outer_iter().map(|r| std::array::from_fn(|c| r[c])).collect();
        let frame = Frame {
            tick,
            uids,
            rows,
            detail,
            events: Vec::new(),
            timings: Vec::new(),
        };
        Ok(TelemetryFrame::wrap(frame, 0))
    }

    /// The tick captured.
    #[getter]
    fn tick(&self) -> u64 {
        self.tick
    }

    /// Whether wallets, jobs and attendance were sampled.
    #[getter]
    fn detail(&self) -> bool {
        self.detail
    }

    /// Live agents captured.
    #[getter]
    fn population(&self) -> usize {
        self.population
    }

    /// Whether it holds events of a narrated kind.
    #[getter]
    fn narratable(&self) -> bool {
        self.narratable
    }

    /// Whether it was encoded already.
    #[getter]
    fn consumed(&self) -> bool {
        self.inner.is_none()
    }
}

fn kind_mask(kinds: &[String]) -> PyResult<u32> {
    let mut mask = 0u32;
    for kind in kinds {
        match EVENT_KINDS.iter().position(|k| k == kind) {
            Some(i) => mask |= 1 << i,
            None => {
                return Err(PyValueError::new_err(format!(
                    "unknown core event kind {kind:?} (one of {})",
                    EVENT_KINDS.join(", ")
                )))
            }
        }
    }
    Ok(mask)
}

/// Captures telemetry frames on the tick thread.
///
/// It remembers the population of the last capture (a change forces the
/// detail columns) and the events of ticks held back between published
/// ticks (`hold`).
#[pyclass(module = "townlet._core")]
pub struct TelemetryRecorder {
    last_uids: Vec<u64>,
    pending: Vec<FrameEvent>,
    narrated: u32,
}

#[pymethods]
impl TelemetryRecorder {
    /// `narrated`: core event kinds a narration template reads (frames
    /// holding one say so in `narratable`).
    #[new]
    #[pyo3(signature = (narrated=Vec::new()))]
    fn new(narrated: Vec<String>) -> PyResult<Self> {
        Ok(TelemetryRecorder {
            last_uids: Vec::new(),
            pending: Vec::new(),
            narrated: kind_mask(&narrated)?,
        })
    }

    /// The frame of `world` after its latest step: every live agent, the
    /// step's events (after any held ones), and `timings` (stage name ->
    /// seconds). Wallets, jobs and attendance are sampled when `detail` is
    /// set or the population changed since the last capture.
    fn capture(
        &mut self,
        world: PyRef<'_, World>,
        tick: u64,
        detail: bool,
        timings: &Bound<'_, PyDict>,
    ) -> PyResult<TelemetryFrame> {
        let mut frame = Frame::capture(&world.inner, tick, detail, &self.last_uids);
        if frame.uids != self.last_uids {
            self.last_uids.clone_from(&frame.uids);
        }
        let mut events = std::mem::take(&mut self.pending);
        events.extend_from_slice(&world.frame_events);
        frame.events = events;
        frame.timings.reserve(timings.len());
        for (stage, seconds) in timings.iter() {
            frame.timings.push((
                stage.cast::<PyString>()?.to_str()?.to_owned(),
                seconds.extract::<f64>()?,
            ));
        }
        Ok(TelemetryFrame::wrap(frame, self.narrated))
    }

    /// Holds the events of `world`'s latest step for the next capture (a tick that is not published).
    fn hold(&mut self, world: PyRef<'_, World>) {
        self.pending.extend_from_slice(&world.frame_events);
    }

    /// The uids of the last capture and the held events, as plain lists.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("uids", self.last_uids.clone())?;
        let held: Vec<(u64, u8, Option<u64>, i32, f32)> = self
            .pending
            .iter()
            .map(|e| {
                (
                    e.tick,
                    e.kind,
                    (e.uid != townlet_core::telemetry::NO_UID).then_some(e.uid),
                    e.object,
                    e.value,
                )
            })
            .collect();
        d.set_item("held", held)?;
        Ok(d)
    }

    /// Restores `state` output.
    fn restore(&mut self, uids: Vec<u64>, held: Vec<(u64, u8, Option<u64>, i32, f32)>) -> PyResult<()> {
        let mut pending = Vec::with_capacity(held.len());
        for (tick, kind, uid, object, value) in held {
            if usize::from(kind) >= EVENT_KINDS.len() {
                return Err(PyValueError::new_err(format!("unknown core event kind code {kind}")));
            }
            pending.push(FrameEvent {
                tick,
                kind,
                uid: uid.unwrap_or(townlet_core::telemetry::NO_UID),
                object,
                value,
            });
        }
        self.last_uids = uids;
        self.pending = pending;
        Ok(())
    }
}

type PlanTuple = (bool, u64, Option<String>, Option<String>, Option<String>);

/// Turns frames into payload lines (schema 0.2.0) on the telemetry worker.
///
/// It keeps the last published agents: a diff is taken against the frame
/// encoded before it. `privacy_key` (at most 64 bytes) publishes agent ids
/// as keyed hashes (`anon_` + 12 hex digits).
#[pyclass(module = "townlet._core")]
pub struct TelemetryEncoder {
    inner: Encoder,
    narrated: u32,
}

#[pymethods]
impl TelemetryEncoder {
    #[new]
    #[pyo3(signature = (job_names, object_ids, privacy_key=None, narrated=Vec::new()))]
    fn new(
        job_names: Vec<String>,
        object_ids: Vec<String>,
        privacy_key: Option<Vec<u8>>,
        narrated: Vec<String>,
    ) -> PyResult<Self> {
        if privacy_key.as_ref().is_some_and(|k| k.len() > 64) {
            return Err(PyValueError::new_err("privacy_key is at most 64 bytes"));
        }
        Ok(TelemetryEncoder {
            inner: Encoder::new(
                Labels {
                    jobs: job_names,
                    objects: object_ids,
                },
                Names::new(privacy_key),
            ),
            narrated: kind_mask(&narrated)?,
        })
    }

    /// One payload line (newline-terminated) per frame, in order, with the GIL
    /// released. Each plan is `(snapshot, seq, head, events, console_results)`:
    /// `head` adds top-level members (`"key":value,...`), `events` adds
    /// events after the core ones (`{...},{...}`), `console_results` is a
    /// JSON array (default `[]`). A frame can be encoded once.
    fn encode(
        &mut self,
        py: Python<'_>,
        frames: Vec<PyRefMut<'_, TelemetryFrame>>,
        plans: Vec<PlanTuple>,
    ) -> PyResult<Vec<String>> {
        if frames.len() != plans.len() {
            return Err(PyValueError::new_err(format!(
                "{} frame(s) but {} plan(s)",
                frames.len(),
                plans.len()
            )));
        }
        if frames.iter().any(|f| f.inner.is_none()) {
            return Err(PyRuntimeError::new_err("a telemetry frame can be encoded only once"));
        }
        let mut taken: Vec<Frame> = Vec::with_capacity(frames.len());
        for mut f in frames {
            taken.extend(f.inner.take());
        }
        let plans: Vec<Plan> = plans
            .into_iter()
            .map(|(snapshot, seq, head, events, results)| Plan {
                snapshot,
                seq,
                head,
                events,
                results,
            })
            .collect();
        let encoder = &mut self.inner;
        Ok(py.detach(move || {
            taken
                .into_iter()
                .zip(&plans)
                .map(|(frame, plan)| {
                    let mut line = String::with_capacity(2048);
                    encoder.encode(frame, plan, &mut line);
                    line.push('\n');
                    line
                })
                .collect()
        }))
    }

    /// The frame's events of narrated kinds, as published event dicts
    /// (`kind`, `tick`, `agent_id`, `object`, `value`), for the narrator.
    fn narratable<'py>(&mut self, py: Python<'py>, frame: PyRef<'_, TelemetryFrame>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let Some(inner) = frame.inner.as_ref() else {
            return Err(PyRuntimeError::new_err("the telemetry frame was encoded already"));
        };
        for e in inner.events.iter().filter(|e| self.narrated & (1 << e.kind) != 0) {
            let (kind, tick, agent, object, value) = self.inner.describe(e);
            let d = PyDict::new(py);
            d.set_item("kind", kind)?;
            d.set_item("tick", tick)?;
            if let Some(agent) = agent {
                d.set_item("agent_id", agent)?;
            }
            if let Some(object) = object {
                d.set_item("object", object)?;
            }
            d.set_item("value", value)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// The published id of an agent uid.
    fn name(&mut self, uid: u64) -> String {
        self.inner.names.get(uid).to_owned()
    }

    /// Whether agent ids are published hashed.
    #[getter]
    fn hashed(&self) -> bool {
        self.inner.names.hashed()
    }

    /// Whether anything was published yet (a diff needs a published state).
    #[getter]
    fn started(&self) -> bool {
        self.inner.table.is_some()
    }

    /// The last published agents: `(uids, rows)` with rows an `(agents, 14)`
    /// int64 matrix, or None before the first payload.
    fn table<'py>(&self, py: Python<'py>) -> Option<(Vec<u64>, Bound<'py, PyArray2<i64>>)> {
        self.inner.table.as_ref().map(|t| {
            let flat: Vec<i64> = t.rows.iter().flat_map(|r| r.iter().copied()).collect();
            let rows = Array2::from_shape_vec((t.rows.len(), N_COLUMNS), flat)
                .expect("rows of N_COLUMNS")
                .into_pyarray(py);
            (t.uids.clone(), rows)
        })
    }

    /// Replaces the published agents (`table` output), or forgets them with None.
    #[pyo3(signature = (uids=None, rows=None))]
    fn set_table(&mut self, uids: Option<Vec<u64>>, rows: Option<PyReadonlyArray2<'_, i64>>) -> PyResult<()> {
        let (Some(uids), Some(rows)) = (uids, rows) else {
            self.inner.table = None;
            return Ok(());
        };
        if rows.shape() != [uids.len(), N_COLUMNS] {
            return Err(PyValueError::new_err(format!(
                "rows must be ({}, {N_COLUMNS}), got {:?}",
                uids.len(),
                rows.shape()
            )));
        }
        let rows: Vec<Row> = rows
            .as_array()
            .outer_iter()
            .map(|r| std::array::from_fn(|c| r[c]))
            .collect();
        self.inner.table = Some(Table { uids, rows });
        Ok(())
    }
}
