//! The `World` class: the Python face of `townlet_core::world::World`.

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadwriteArray1, PyReadwriteArray2, PyReadwriteArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use townlet_core::agents::{AgentInit, ITEMS, NEEDS, TRAITS};
use townlet_core::economy::{Utility, Weather, N_ITEMS};
use townlet_core::observe::{ObsBuffers, PRIMITIVES};
use townlet_core::relations::EventKind as RelKind;
use townlet_core::rewards::N_COMPONENTS;
use townlet_core::rng::Stream;
use townlet_core::telemetry::FrameEvent;
use townlet_core::tick::Event;
use townlet_core::tick::OPTIONS;
use townlet_core::world::World as CoreWorld;
use townlet_core::CoreError;

use crate::errors::IntoPy;
use crate::spec::world_spec;

type EventArrays<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f32>>,
);

fn shape_err(what: &str, expected: String, got: String) -> PyErr {
    crate::errors::to_pyerr(CoreError::Shape {
        what: what.into(),
        expected,
        got,
    })
}

fn utility(name: &str) -> PyResult<Utility> {
    match name {
        "power" => Ok(Utility::Power),
        "water" => Ok(Utility::Water),
        other => Err(CoreError::InvalidArgument(format!(
            "unknown utility {other:?} (power, water)"
        )))
        .py(),
    }
}

fn matrix<'py, T: numpy::Element + Copy, const N: usize>(py: Python<'py>, rows: &[[T; N]]) -> Bound<'py, PyArray2<T>> {
    let flat: Vec<T> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Array2::from_shape_vec((rows.len(), N), flat)
        .expect("rows of N")
        .into_pyarray(py)
}

/// The simulated town: every per-agent, per-tick system, driven from Python.
#[pyclass(module = "townlet._core")]
pub struct World {
    pub(crate) inner: CoreWorld,
    events: Vec<Event>,
    /// The latest step's events naming agents by uid (for telemetry frames).
    pub(crate) frame_events: Vec<FrameEvent>,
}

#[pymethods]
impl World {
    /// Builds a world from the dict made by `townlet.world.spec.build_world_spec`.
    #[new]
    fn new(spec: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(World {
            inner: CoreWorld::new(world_spec(spec)?).py()?,
            events: Vec::new(),
            frame_events: Vec::new(),
        })
    }

    /// Restores a world saved with `to_bytes` (same spec).
    #[staticmethod]
    fn from_bytes(spec: &Bound<'_, PyDict>, data: &[u8]) -> PyResult<Self> {
        Ok(World {
            inner: CoreWorld::from_bytes(world_spec(spec)?, data).py()?,
            events: Vec::new(),
            frame_events: Vec::new(),
        })
    }

    /// Serialises the whole mutable state.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Current tick.
    #[getter]
    fn tick(&self) -> u64 {
        self.inner.tick()
    }

    /// Number of slots (live or free); buffers passed to `step` have this length.
    #[getter]
    fn capacity(&self) -> usize {
        self.inner.agents().capacity()
    }

    /// The uid the next spawned agent gets (uids are never reused).
    #[getter]
    fn next_uid(&self) -> u64 {
        self.inner.agents().next_uid()
    }

    /// Number of live agents.
    fn __len__(&self) -> usize {
        self.inner.agents().len()
    }

    /// Advances one tick for every agent, with the GIL released.
    ///
    /// `options` (uint8, capacity) holds one option code per slot; `rewards`
    /// (float32, capacity x components) and `totals` (float32, capacity) are
    /// written in place. Returns the tick's events as five arrays:
    /// `(tick, kind, slot, object, value)`.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        options: PyReadonlyArray1<'py, u8>,
        mut rewards: PyReadwriteArray2<'py, f32>,
        mut totals: PyReadwriteArray1<'py, f32>,
    ) -> PyResult<EventArrays<'py>> {
        let n = self.inner.agents().capacity();
        let options = options
            .as_slice()
            .map_err(|_| shape_err("options", "contiguous uint8".into(), "strided".into()))?;
        if rewards.shape() != [n, N_COMPONENTS] {
            return Err(shape_err(
                "rewards",
                format!("({n}, {N_COMPONENTS})"),
                format!("{:?}", rewards.shape()),
            ));
        }
        if !rewards.is_c_contiguous() {
            return Err(shape_err("rewards", "C-contiguous float32".into(), "strided".into()));
        }
        let rewards = rewards
            .as_slice_mut()
            .map_err(|_| shape_err("rewards", "C-contiguous float32".into(), "strided".into()))?;
        let totals = totals
            .as_slice_mut()
            .map_err(|_| shape_err("totals", "contiguous float32".into(), "strided".into()))?;
        self.events.clear();
        let (inner, events) = (&mut self.inner, &mut self.events);
        py.detach(|| inner.step(options, rewards, totals, events)).py()?;
        let ev = &self.events;
        self.frame_events.clear();
        self.frame_events
            .extend(ev.iter().map(|e| FrameEvent::from_event(e, &self.inner)));
        Ok((
            ev.iter().map(|e| e.tick).collect::<Vec<_>>().into_pyarray(py),
            ev.iter().map(|e| e.kind as u8).collect::<Vec<_>>().into_pyarray(py),
            ev.iter().map(|e| e.slot).collect::<Vec<_>>().into_pyarray(py),
            ev.iter().map(|e| e.object).collect::<Vec<_>>().into_pyarray(py),
            ev.iter().map(|e| e.value).collect::<Vec<_>>().into_pyarray(py),
        ))
    }

    /// Live-slot mask (bool, capacity).
    fn alive<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<bool>> {
        self.inner.agents().alive.clone().into_pyarray(py)
    }

    /// Stable agent numbers per slot (uint64, capacity).
    fn uids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.inner.agents().uid.clone().into_pyarray(py)
    }

    /// Positions (int32, capacity x 2: x, y).
    fn positions<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<i32>> {
        let a = self.inner.agents();
        let rows: Vec<[i32; 2]> = a.x.iter().zip(&a.y).map(|(&x, &y)| [x, y]).collect();
        matrix(py, &rows)
    }

    /// Needs (float32, capacity x 3: hunger, hygiene, energy).
    fn needs<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        matrix::<f32, NEEDS>(py, &self.inner.agents().needs)
    }

    /// Wallets (float64, capacity).
    fn wallets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.agents().wallet.clone().into_pyarray(py)
    }

    /// Inventory (uint16, capacity x 3: `food_raw`, meal, `clothes_clean`).
    fn inventory<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<u16>> {
        matrix::<u16, ITEMS>(py, &self.inner.agents().inventory)
    }

    /// Job index per slot (int32, -1 for none).
    fn jobs<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i32>> {
        self.inner.agents().job.clone().into_pyarray(py)
    }

    /// Lifecycle counters (uint32, capacity x 6: collapse ticks, unpaid rent
    /// days, days without wage, neglect ticks today, age ticks, ticks with
    /// every need above 0.3).
    fn counters<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<u32>> {
        let rows: Vec<[u32; 6]> = self
            .inner
            .agents()
            .counters
            .iter()
            .map(|c| {
                [
                    c.collapse_ticks,
                    u32::from(c.unpaid_rent_days),
                    u32::from(c.days_without_wage),
                    c.neglect_ticks,
                    c.age_ticks,
                    c.satisfied_ticks,
                ]
            })
            .collect();
        matrix(py, &rows)
    }

    /// Home venue index per slot (int32, -1 for none).
    fn homes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i32>> {
        self.inner.agents().home.clone().into_pyarray(py)
    }

    /// Personality per slot (float32, capacity x 5: extroversion,
    /// forgiveness, ambition, patience, frugal).
    fn personalities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        matrix::<f32, TRAITS>(py, &self.inner.agents().personality)
    }

    /// Writes the scripted policy's option for every slot into `out`
    /// (uint8, capacity), with the GIL released.
    fn scripted_options(&self, py: Python<'_>, mut out: PyReadwriteArray1<'_, u8>) -> PyResult<()> {
        let out = out
            .as_slice_mut()
            .map_err(|_| shape_err("options", "contiguous uint8".into(), "strided".into()))?;
        let inner = &self.inner;
        py.detach(|| inner.scripted_options(out)).py()
    }

    /// The option each slot is committed to after the last tick's
    /// commitment window and masks (uint8, capacity).
    fn committed_options<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.inner.committed_options().to_vec().into_pyarray(py)
    }

    /// Town-wide running totals: `agent_ticks` (live agent-ticks),
    /// `satisfied` (of which every need above 0.3), `switches` (committed
    /// option changes), `clock_ins`, `late_clock_ins`, `late_ticks`,
    /// `absences`, `starvation_onsets` (hunger collapses begun).
    fn tally<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.inner.tally();
        let d = PyDict::new(py);
        d.set_item("agent_ticks", t.agent_ticks)?;
        d.set_item("satisfied", t.satisfied)?;
        d.set_item("switches", t.switches)?;
        d.set_item("clock_ins", t.clock_ins)?;
        d.set_item("late_clock_ins", t.late_clock_ins)?;
        d.set_item("late_ticks", t.late_ticks)?;
        d.set_item("absences", t.absences)?;
        d.set_item("starvation_onsets", t.starvation_onsets)?;
        Ok(d)
    }

    /// The sums behind the KPIs of the day in progress, over the live agents
    /// in slot order: `(wages, employed, age_ticks)`: wages earned since
    /// `baseline` (float64, what each had earned when the day started),
    /// agents with a job, and ages in ticks summed. `ValueError` unless
    /// `baseline` holds one value per live agent.
    fn day_totals(&self, baseline: PyReadonlyArray1<'_, f64>) -> PyResult<(f64, usize, u64)> {
        let t = self.inner.day_totals(baseline.as_slice()?).py()?;
        Ok((t.wages, t.employed, t.age_ticks))
    }

    /// Replaces the exit-trigger thresholds (same keys as the spec's `lifecycle`).
    fn set_lifecycle_params(&mut self, params: &Bound<'_, PyDict>) -> PyResult<()> {
        let p = crate::spec::lifecycle_params(params)?;
        self.inner.set_lifecycle_params(p).py()
    }

    /// Gives an agent a job index (-1: none); its attendance record restarts.
    fn set_job(&mut self, slot: usize, job: i32) -> PyResult<()> {
        self.inner.set_job(slot, job).py()
    }

    /// Flags an agent's context as reset (possession, release).
    fn reset_context(&mut self, slot: usize) -> PyResult<()> {
        self.inner.reset_context(slot).py()
    }

    /// Sets an agent's money (finite).
    fn set_wallet(&mut self, slot: usize, value: f64) -> PyResult<()> {
        self.inner.set_wallet(slot, value).py()
    }

    /// Sets an agent's inventory `(food_raw, meal, clothes_clean)`.
    fn set_inventory(&mut self, slot: usize, items: [u16; ITEMS]) -> PyResult<()> {
        self.inner.set_inventory(slot, items).py()
    }

    /// Moves an agent into a home venue (-1: none).
    fn set_home(&mut self, slot: usize, home: i32) -> PyResult<()> {
        self.inner.set_home(slot, home).py()
    }

    /// `n` uniform draws in [0, 1) from a random stream (world, events, policy).
    fn draw<'py>(&mut self, py: Python<'py>, stream: &str, n: usize) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let stream = match stream {
            "world" => Stream::World,
            "events" => Stream::Events,
            "policy" => Stream::Policy,
            other => {
                return Err(CoreError::InvalidArgument(format!(
                    "unknown random stream {other:?} (world, events, policy)"
                )))
                .py()
            }
        };
        Ok(self.inner.draw(stream, n).into_pyarray(py))
    }

    /// Attendance per slot (float64, capacity x 7: state, attendance ratio,
    /// late ticks, absences, wages earned, wages withheld, lateness charged).
    fn attendance<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let n = self.inner.agents().capacity();
        let rows: Vec<[f64; 7]> = (0..n)
            .map(|s| {
                self.inner.attendance(s).map_or([0.0; 7], |r| {
                    [
                        f64::from(r.state as u8),
                        r.attendance_ratio(),
                        r.late_ticks as f64,
                        f64::from(r.absences),
                        r.wages_earned,
                        r.wages_withheld,
                        r.lateness_charged,
                    ]
                })
            })
            .collect();
        matrix(py, &rows)
    }

    /// Absences per slot within the last `days` days (uint32, capacity).
    fn recent_absences<'py>(&self, py: Python<'py>, days: u32) -> Bound<'py, PyArray1<u32>> {
        let n = self.inner.agents().capacity();
        (0..n)
            .map(|s| self.inner.attendance(s).map_or(0, |r| r.recent_absences(days)))
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }

    /// Adds an agent; returns `(slot, uid)`.
    #[pyo3(
        signature = (x, y, needs, wallet, inventory, job=-1, home=-1, personality=None),
        text_signature = "(self, /, x, y, needs, wallet, inventory, job=-1, home=-1, personality=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &mut self,
        x: i32,
        y: i32,
        needs: [f32; NEEDS],
        wallet: f64,
        inventory: [u16; ITEMS],
        job: i32,
        home: i32,
        personality: Option<[f32; TRAITS]>,
    ) -> PyResult<(usize, u64)> {
        let init = AgentInit {
            x,
            y,
            needs,
            wallet,
            inventory,
            job,
            home,
            personality: personality.unwrap_or_default(),
        };
        self.inner.spawn(&init).py()
    }

    /// Removes the agent in `slot`; returns its uid.
    fn remove(&mut self, slot: usize) -> PyResult<u64> {
        self.inner.remove(slot).py()
    }

    /// Moves an agent instantly to a walkable tile.
    fn teleport(&mut self, slot: usize, x: i32, y: i32) -> PyResult<()> {
        self.inner.teleport(slot, x, y).py()
    }

    /// Sets one need (0 hunger, 1 hygiene, 2 energy) to a value in [0, 1].
    fn set_need(&mut self, slot: usize, need: usize, value: f32) -> PyResult<()> {
        self.inner.set_need(slot, need, value).py()
    }

    /// Sets (or with `None` clears) a price override for an item index.
    #[pyo3(signature = (item, price=None))]
    fn set_price(&mut self, item: usize, price: Option<f64>) -> PyResult<()> {
        self.inner.set_price(item, price).py()
    }

    /// Current price of an item index.
    fn price(&self, item: usize) -> PyResult<f64> {
        if item >= N_ITEMS {
            return Err(CoreError::InvalidArgument(format!("item {item} outside 0..{N_ITEMS}"))).py();
        }
        Ok(self.inner.economy().price(item))
    }

    /// Units of an item in stock at a venue.
    fn stock(&self, venue: usize, item: usize) -> u32 {
        if item >= N_ITEMS {
            return 0;
        }
        self.inner.economy().stock(venue, item)
    }

    /// Units in stock of every item (in `ITEMS` order) at each of `venues`.
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts an owned list
    fn stocks(&self, venues: Vec<usize>) -> Vec<[u32; N_ITEMS]> {
        let economy = self.inner.economy();
        venues
            .iter()
            .map(|&v| std::array::from_fn(|i| economy.stock(v, i)))
            .collect()
    }

    /// Sets the perturbation price multiplier on an item index (1.0 clears
    /// it); it stacks with weather and overrides. Range [0.1, 100].
    fn set_price_multiplier(&mut self, item: usize, factor: f64) -> PyResult<()> {
        self.inner.set_price_multiplier(item, factor).py()
    }

    /// The perturbation price multiplier on an item index.
    fn price_multiplier(&self, item: usize) -> PyResult<f64> {
        if item >= N_ITEMS {
            return Err(CoreError::InvalidArgument(format!("item {item} outside 0..{N_ITEMS}"))).py();
        }
        Ok(self.inner.economy().multiplier(item))
    }

    /// Closes (or reopens) a venue: it sells nothing and its objects fail
    /// `venue_open` preconditions while closed.
    fn set_closed(&mut self, venue: usize, closed: bool) -> PyResult<()> {
        self.inner.set_closed(venue, closed).py()
    }

    /// Whether a venue is open (false for an unknown venue).
    fn venue_open(&self, venue: usize) -> bool {
        self.inner.economy().venue_open(venue)
    }

    /// Forces a utility ("power" or "water") off, or releases it.
    fn set_utility(&mut self, name: &str, forced_off: bool) -> PyResult<()> {
        self.inner.set_utility(utility(name)?, forced_off);
        Ok(())
    }

    /// Whether a utility is up now.
    fn utility_on(&self, name: &str) -> PyResult<bool> {
        Ok(self.inner.economy().utility_on(utility(name)?, self.inner.tick()))
    }

    /// Current weather code (0 sunny, 1 rainy, 2 cold).
    #[getter]
    fn weather(&self) -> u8 {
        self.inner.economy().weather() as u8
    }

    /// Sets the weather by code.
    fn set_weather(&mut self, code: u8) -> PyResult<()> {
        self.inner.set_weather(Weather::from_code(code).py()?);
        Ok(())
    }

    /// Sets the tie from `slot` to `other` (trust, familiarity, rivalry in [-1, 1]).
    fn set_relation(&mut self, slot: usize, other: usize, trust: f32, familiarity: f32, rivalry: f32) -> PyResult<()> {
        self.inner.set_relation(slot, other, [trust, familiarity, rivalry]).py()
    }

    /// Applies a relationship event from `slot` toward `other`: the delta is
    /// scaled by the actor's personality (`kind`: `plain`, `work_conflict`
    /// or `good_chat`) and admitted under the top-K rule. Returns whether
    /// the tie exists afterwards.
    fn relation_event(
        &mut self,
        slot: usize,
        other: usize,
        trust: f32,
        familiarity: f32,
        rivalry: f32,
        kind: &str,
    ) -> PyResult<bool> {
        let kind = match kind {
            "plain" => RelKind::Plain,
            "work_conflict" => RelKind::WorkConflict,
            "good_chat" => RelKind::GoodChat,
            other => {
                return Err(CoreError::InvalidArgument(format!(
                    "unknown event kind {other:?} (plain, work_conflict, good_chat)"
                )))
                .py()
            }
        };
        self.inner
            .relation_event(slot, other, [trust, familiarity, rivalry], kind)
            .py()
    }

    /// Ties of `slot` as `(other_uid, trust, familiarity, rivalry)`.
    fn relations(&self, slot: usize) -> PyResult<Vec<(u64, f32, f32, f32)>> {
        self.inner.agents().check(slot).py()?;
        Ok(self
            .inner
            .relations()
            .ties(slot)
            .iter()
            .map(|t| (t.other, t.trust, t.familiarity, t.rivalry))
            .collect())
    }

    /// Slots holding and waiting for an object: `(holders, waiting)`.
    fn queue(&self, object: usize) -> (Vec<u32>, Vec<u32>) {
        (
            self.inner.queues().holders(object).collect(),
            self.inner.queues().waiting(object).collect(),
        )
    }

    /// Queue counters: cooldowns, timeouts, abandoned waits, conflicts, ghost steps, blocked moves.
    fn queue_stats(&self) -> (u64, u64, u64, u64, u64, u64) {
        let s = self.inner.queues().stats();
        let (ghost, blocked) = self.inner.mover_stats();
        (s.cooldowns, s.timeouts, s.abandoned, s.conflicts, ghost, blocked)
    }

    /// Route-planning counters: A* queries run, queries deferred by the
    /// per-tick budget, tiles expanded.
    fn route_stats(&self) -> (u64, u64, u64) {
        let r = self.inner.route_stats();
        (r.planned, r.deferred, r.expanded)
    }

    /// The observation layout: a dict with `variant`, `channels` (map channel
    /// names, empty for compact), `window`, `map_shape` (channels, window,
    /// window, or None), `features` (count), `groups` (list of
    /// `(name, start, end)`), `feature_names`, `options` and `primitives`.
    fn observation_layout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = self.inner.obs_layout();
        let d = PyDict::new(py);
        d.set_item("variant", l.variant.name())?;
        d.set_item("channels", l.channels.clone())?;
        d.set_item("window", l.window)?;
        let map_shape = (!l.channels.is_empty()).then_some((l.channels.len(), l.window, l.window));
        d.set_item("map_shape", map_shape)?;
        d.set_item("features", l.features)?;
        let groups: Vec<(String, usize, usize)> = l.groups.iter().map(|g| (g.name.clone(), g.start, g.end)).collect();
        d.set_item("groups", groups)?;
        let names: Vec<String> = l.groups.iter().flat_map(|g| g.names.iter().cloned()).collect();
        d.set_item("feature_names", names)?;
        d.set_item("options", OPTIONS.to_vec())?;
        d.set_item("primitives", PRIMITIVES.to_vec())?;
        Ok(d)
    }

    /// Writes every slot's observation into caller buffers, in place.
    ///
    /// `map` (float32, capacity x channels x window x window; None for
    /// compact), `features` (float32, capacity x features), `option_mask`
    /// (bool, capacity x options), `primitive_mask` (bool, capacity x
    /// primitives). The GIL is released while writing.
    #[pyo3(signature = (map, features, option_mask, primitive_mask))]
    fn observe<'py>(
        &self,
        py: Python<'py>,
        map: Option<PyReadwriteArrayDyn<'py, f32>>,
        mut features: PyReadwriteArray2<'py, f32>,
        mut option_mask: PyReadwriteArray2<'py, bool>,
        mut primitive_mask: PyReadwriteArray2<'py, bool>,
    ) -> PyResult<()> {
        let n = self.inner.agents().capacity();
        let l = self.inner.obs_layout();
        let want_map: Vec<usize> = if l.channels.is_empty() {
            Vec::new()
        } else {
            vec![n, l.channels.len(), l.window, l.window]
        };
        let check = |what: &str, got: &[usize], want: &[usize]| -> PyResult<()> {
            if got == want {
                Ok(())
            } else {
                Err(shape_err(what, format!("{want:?}"), format!("{got:?}")))
            }
        };
        check("features", features.shape(), &[n, l.features])?;
        check("option_mask", option_mask.shape(), &[n, OPTIONS.len()])?;
        check("primitive_mask", primitive_mask.shape(), &[n, PRIMITIVES.len()])?;
        let mut map = map;
        let mut empty: [f32; 0] = [];
        let map_slice: &mut [f32] = match (&mut map, want_map.is_empty()) {
            (None, true) => &mut empty,
            (None, false) => return Err(shape_err("map", format!("{want_map:?}"), "None".into())),
            (Some(_), true) => {
                return Err(shape_err(
                    "map",
                    "None (the compact variant has no map)".into(),
                    "an array".into(),
                ))
            }
            (Some(m), false) => {
                check("map", m.shape(), &want_map)?;
                if !m.is_c_contiguous() {
                    return Err(shape_err("map", "C-contiguous float32".into(), "strided".into()));
                }
                m.as_slice_mut()
                    .map_err(|_| shape_err("map", "C-contiguous float32".into(), "strided".into()))?
            }
        };
        let contiguous = |what: &str| shape_err(what, "C-contiguous".into(), "strided".into());
        if !(features.is_c_contiguous() && option_mask.is_c_contiguous() && primitive_mask.is_c_contiguous()) {
            return Err(contiguous("features and masks"));
        }
        let features = features.as_slice_mut().map_err(|_| contiguous("features"))?;
        let option_mask = option_mask.as_slice_mut().map_err(|_| contiguous("option_mask"))?;
        let primitive_mask = primitive_mask
            .as_slice_mut()
            .map_err(|_| contiguous("primitive_mask"))?;
        let inner = &self.inner;
        py.detach(|| {
            inner.observe(&mut ObsBuffers {
                map: map_slice,
                features,
                option_mask,
                primitive_mask,
            })
        })
        .py()
    }

    /// Writes every slot's option and primitive masks into caller buffers,
    /// in place: the masks of `observe` without the tensors.
    ///
    /// `option_mask` (bool, capacity x options), `primitive_mask` (bool,
    /// capacity x primitives), both C-contiguous. The GIL is released while
    /// writing.
    fn masks<'py>(
        &self,
        py: Python<'py>,
        mut option_mask: PyReadwriteArray2<'py, bool>,
        mut primitive_mask: PyReadwriteArray2<'py, bool>,
    ) -> PyResult<()> {
        let n = self.inner.agents().capacity();
        for (what, got, want) in [
            ("option_mask", option_mask.shape(), [n, OPTIONS.len()]),
            ("primitive_mask", primitive_mask.shape(), [n, PRIMITIVES.len()]),
        ] {
            if got != want {
                return Err(shape_err(what, format!("{want:?}"), format!("{got:?}")));
            }
        }
        let contiguous = |what: &str| shape_err(what, "C-contiguous".into(), "strided".into());
        if !(option_mask.is_c_contiguous() && primitive_mask.is_c_contiguous()) {
            return Err(contiguous("masks"));
        }
        let option_mask = option_mask.as_slice_mut().map_err(|_| contiguous("option_mask"))?;
        let primitive_mask = primitive_mask
            .as_slice_mut()
            .map_err(|_| contiguous("primitive_mask"))?;
        let inner = &self.inner;
        py.detach(|| inner.masks(option_mask, primitive_mask)).py()
    }

    /// Embedding slot counters: `(assigned, forced reuses, exhausted)`.
    fn slot_stats(&self) -> (u64, u64, u64) {
        let s = self.inner.slot_stats();
        (s.assigned, s.forced, s.exhausted)
    }

    /// Embedding slot per agent slot (int32, capacity; -1 for none).
    fn embedding_slots<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i32>> {
        let n = self.inner.agents().capacity();
        (0..n)
            .map(|s| self.inner.embedding_slot(s).map_or(-1, |v| v as i32))
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }
}
