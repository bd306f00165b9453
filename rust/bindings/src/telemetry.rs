//! Telemetry frames and payload encoding: the Python face of `townlet_core::telemetry`.
//!
//! `TelemetryRecorder.capture` runs on the tick thread: one call that
//! copies the tick into a queue shared with a `TelemetryEncoder`,
//! converting what Python adds (town sections, Python events, console
//! results) on the way. The telemetry worker takes chunks of queued ticks
//! and encodes (and narrates) them with the GIL released into
//! ready-to-send batches, or writes them to a file descriptor too (`run`);
//! only failures and the worker's alerts go through Python (`take`, then
//! `encode_taken` or `write_taken`), so the worker hardly holds the GIL the
//! tick thread needs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use townlet_core::telemetry::value::SectionSample;
use townlet_core::telemetry::{
    prefetch_for_write, Encoder, Extras, Frame, FrameEvent, Labels, Names, Plan, Row, Table, Town, TownParts, NO_UID,
    N_COLUMNS,
};
use townlet_core::tick::EVENT_KINDS;

use crate::narration::{lock_narrator, Narrator, SharedNarrator};
use crate::sections::{extras_of, sections_from_py, sections_to_py, SectionReader};
use crate::world::World;

/// Town sections converted at capture, or why they could not be.
type Sampled = Result<SectionSample, String>;

/// What Python queued with a tick (a `FrameExtras`), converted at capture:
/// the worker encodes all of it without the GIL.
#[derive(Default)]
struct Parts {
    /// The tick's Python events and console results (None when it had neither).
    extras: Option<Box<Extras>>,
    /// Why an event or a console result was left out (it could not be converted), if one was.
    failed: Option<String>,
    /// The town sections sampled in Python, converted (or why they could not be).
    sections: Option<Box<Sampled>>,
}

/// A queued tick (or failed tick) waiting for the worker.
enum Item {
    Frame { frame: Frame, parts: Parts },
    Failure { tick: u64, info: Option<Py<PyAny>> },
}

/// The queue between the tick thread and the worker, and spent frames
/// going back for reuse (a steady stream then allocates nothing).
struct Inbox {
    items: VecDeque<Item>,
    max_pending: usize,
    dropped: u64,
    spare: Vec<Frame>,
    /// Set when the worker halted: later items are refused (and counted).
    closed: bool,
    refused: u64,
    /// When the first of the queued items arrived (the linger runs from then).
    first_at: Option<Instant>,
    /// The depth a worker waiting in `TelemetryEncoder.run` waits for (0: none waits).
    waiting_for: usize,
    /// Set by `TelemetryRecorder.interrupt`: a waiting `run` returns.
    interrupted: bool,
}

/// The queue and the condition a waiting worker sleeps on.
struct Queue {
    inbox: Mutex<Inbox>,
    ready: Condvar,
}

/// Most spent frames kept for reuse.
const MAX_SPARE: usize = 1024;

type Shared = Arc<Queue>;

fn lock(queue: &Shared) -> MutexGuard<'_, Inbox> {
    // A panic while holding the lock leaves the queue consistent (pushes and pops only).
    queue.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Queues `item` (see [`Inbox::push`]) and wakes a worker waiting for this depth.
fn push(queue: &Shared, item: Item) -> usize {
    let mut inbox = lock(queue);
    let depth = inbox.push(item);
    let wake = inbox.wakes_at(depth);
    drop(inbox);
    if wake {
        queue.ready.notify_all();
    }
    depth
}

/// The shortest look at an empty queue by [`wait_ready`] (with no linger, a push wakes it).
const MIN_POLL: Duration = Duration::from_millis(1);

/// Hands spent frames back to the recorder for reuse.
fn recycle(queue: &Shared, spent: Vec<Frame>) {
    let mut inbox = lock(queue);
    for frame in spent {
        inbox.recycle(frame);
    }
}

/// Why [`wait_ready`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Enough is queued, or the first queued item has waited the linger.
    Ready,
    /// `interrupt` was called, frames were dropped, or the time is up: back to Python.
    Return,
}

/// Waits (without the GIL) until `queue` holds `depth` items, or its first
/// item has waited `linger`; returns early when `until` passes, when
/// `interrupt` is called and when frames are dropped (the count differs
/// from `dropped`).
fn wait_ready(queue: &Shared, depth: usize, linger: Duration, until: Instant, dropped: u64) -> Wake {
    let mut inbox = lock(queue);
    loop {
        if inbox.interrupted {
            inbox.interrupted = false;
            return Wake::Return;
        }
        if inbox.dropped != dropped {
            return Wake::Return;
        }
        let now = Instant::now();
        let due = (!inbox.items.is_empty()).then(|| inbox.first_at.map_or(now, |t| t + linger));
        if inbox.items.len() >= depth.max(1) || due.is_some_and(|due| now >= due) {
            return Wake::Ready;
        }
        if now >= until {
            return Wake::Return;
        }
        // While nothing is queued, look again after a linger (a push wakes only at `depth`).
        let end = due.unwrap_or(now + linger.max(MIN_POLL)).min(until).max(now);
        inbox.waiting_for = depth.max(1);
        inbox = match queue.ready.wait_timeout(inbox, end - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        inbox.waiting_for = 0;
    }
}

impl Inbox {
    /// Queues an item, dropping the oldest past `max_pending`; returns the
    /// depth (0 when the queue is closed: the item is refused and counted).
    fn push(&mut self, item: Item) -> usize {
        if self.closed {
            self.refused += 1;
            if let Item::Frame { frame, .. } = item {
                self.recycle(frame);
            }
            return 0;
        }
        while self.items.len() >= self.max_pending {
            if let Some(Item::Frame { frame, .. }) = self.items.pop_front() {
                self.recycle(frame);
            }
            self.dropped += 1;
        }
        if self.items.is_empty() {
            self.first_at = Some(Instant::now());
        }
        self.items.push_back(item);
        self.items.len()
    }

    /// Whether a push that left `depth` items must wake the waiting worker.
    fn wakes_at(&self, depth: usize) -> bool {
        self.waiting_for > 0 && depth == self.waiting_for
    }

    /// Empties the queue (keeping the frames' buffers); returns how many items it held.
    fn clear(&mut self) -> usize {
        let n = self.items.len();
        while let Some(item) = self.items.pop_front() {
            if let Item::Frame { frame, .. } = item {
                self.recycle(frame);
            }
        }
        n
    }

    /// Keeps a spent frame's buffers for a later capture.
    fn recycle(&mut self, frame: Frame) {
        if self.spare.len() < MAX_SPARE.min(self.max_pending + 1) {
            self.spare.push(frame);
        }
    }
}

/// Captures telemetry frames on the tick thread into a queue (drop-oldest
/// past `max_pending`) that a `TelemetryEncoder` built on it consumes.
///
/// It remembers the population of the last capture (a change forces the
/// detail columns) and the events of ticks held back between published
/// ticks (`hold`).
#[pyclass(module = "townlet._core")]
pub struct TelemetryRecorder {
    inbox: Shared,
    last_uids: Arc<[u64]>,
    pending: Vec<FrameEvent>,
    /// Stage names of the latest capture, in order, and the Python strings
    /// they came from (the same objects tick after tick: compared by identity).
    stages: Arc<[Arc<str>]>,
    stage_keys: Vec<Py<PyString>>,
    /// A spent frame to capture into next.
    spare: Option<Frame>,
    /// Routine ticks (`capture_tick`) sample the detail every `detail_every`
    /// ticks and leave every `sections_every`-th tick (and the first, or the
    /// next after `force` is set) to a full `capture` with its Python parts.
    detail_every: u64,
    sections_every: u64,
    force: bool,
    /// The world `capture_tick` captures, and the depth it reports from.
    bound: Option<Py<World>>,
    /// Converts the town sections queued with a capture.
    reader: SectionReader,
    wake_at: usize,
    /// Venue indices whose stock the town sections publish.
    venues: Vec<usize>,
}

#[pymethods]
impl TelemetryRecorder {
    /// `max_pending`: queued ticks before the oldest is dropped.
    /// `detail_every` and `sections_every` set the cadences of
    /// `capture_tick` (both at least 1). `venues`: the venue indices whose
    /// stock the town sections publish.
    #[new]
    #[pyo3(signature = (max_pending=1024, detail_every=10, sections_every=1, venues=Vec::new()))]
    fn new(max_pending: usize, detail_every: u64, sections_every: u64, venues: Vec<usize>) -> PyResult<Self> {
        if max_pending == 0 {
            return Err(PyValueError::new_err("max_pending must be at least 1"));
        }
        if detail_every == 0 || sections_every == 0 {
            return Err(PyValueError::new_err(
                "detail_every and sections_every must be at least 1",
            ));
        }
        Ok(TelemetryRecorder {
            inbox: Arc::new(Queue {
                inbox: Mutex::new(Inbox {
                    items: VecDeque::new(),
                    max_pending,
                    dropped: 0,
                    spare: Vec::new(),
                    closed: false,
                    refused: 0,
                    first_at: None,
                    waiting_for: 0,
                    interrupted: false,
                }),
                ready: Condvar::new(),
            }),
            last_uids: Arc::from([]),
            pending: Vec::new(),
            stages: Arc::from(Vec::new()),
            stage_keys: Vec::new(),
            spare: None,
            detail_every,
            sections_every,
            force: true,
            bound: None,
            reader: SectionReader::default(),
            wake_at: 1,
            venues,
        })
    }

    /// Sets the world `capture_tick` reads and the queue depth from which
    /// it reports the depth (to wake the worker).
    fn bind(&mut self, world: Py<World>, wake_at: usize) {
        self.bound = Some(world);
        self.wake_at = wake_at.max(1);
    }

    /// Queues a routine tick in one call, from the loop's `TickArtifacts`
    /// (`tick`, `timings`, `events`) and the bound world: a tick with no
    /// Python-side events, detail sampled every `detail_every` ticks.
    /// Returns 0 when queued, the queue depth when queued and the depth
    /// reached `wake_at`, or -1 without capturing when the tick needs its
    /// Python-side parts (it has events, its town sections are due every
    /// `sections_every` ticks, it is the first capture or `force` is set,
    /// or no world is bound): the caller then builds them and calls `capture`.
    fn capture_tick(&mut self, py: Python<'_>, artifacts: &Bound<'_, PyAny>) -> PyResult<i64> {
        let Some(world) = self.bound.as_ref().map(|w| w.clone_ref(py)) else {
            return Ok(-1);
        };
        if self.force || artifacts.getattr(intern!(py, "events"))?.len()? > 0 {
            return Ok(-1);
        }
        let tick: u64 = artifacts.getattr(intern!(py, "tick"))?.extract()?;
        if tick % self.sections_every == 0 {
            return Ok(-1);
        }
        let timings = artifacts.getattr(intern!(py, "timings"))?;
        let timings = timings.cast::<PyDict>()?;
        let world = world.bind(py).borrow();
        let depth = self.queue(&world, tick, tick % self.detail_every == 0, timings, None, false)?;
        Ok(if depth >= self.wake_at {
            i64::try_from(depth).unwrap_or(i64::MAX)
        } else {
            0
        })
    }

    /// Whether the next capture must carry the Python-side parts (set
    /// initially; `capture` clears it). Set it to make the next routine
    /// tick defer to `capture`.
    #[getter]
    fn get_force(&self) -> bool {
        self.force
    }

    #[setter]
    fn set_force(&mut self, force: bool) {
        self.force = force;
    }

    /// Queues the frame of `world` after its latest step: every live agent,
    /// the step's events (after any held ones), `timings` (stage name ->
    /// seconds) and `extras` (a `FrameExtras`: its town sections, events
    /// and console results are converted here; an event or result that
    /// cannot be is left out, and the encoder counts it).
    /// Wallets, jobs and attendance are sampled when `detail` is set or the
    /// population changed since the last capture; the core's town sections
    /// (population, economy, queues, embeddings) when `town` is set.
    /// Returns the queue depth.
    #[pyo3(signature = (world, tick, detail, timings, extras=None, town=false))]
    fn capture(
        &mut self,
        world: PyRef<'_, World>,
        tick: u64,
        detail: bool,
        timings: &Bound<'_, PyDict>,
        extras: Option<Py<PyAny>>,
        town: bool,
    ) -> PyResult<usize> {
        self.force = false;
        self.queue(&world, tick, detail, timings, extras, town)
    }

    /// Queues a frame from explicit values (tools and tests): `uids` and an
    /// `(agents, 14)` int64 matrix of quantised values, whose every-frame
    /// columns (position, needs, option) must fit 16 bits. Returns the queue depth.
    #[pyo3(signature = (tick, uids, rows, detail=true, extras=None))]
    fn push_rows(
        &mut self,
        py: Python<'_>,
        tick: u64,
        uids: Vec<u64>,
        rows: PyReadonlyArray2<'_, i64>,
        detail: bool,
        extras: Option<Py<PyAny>>,
    ) -> PyResult<usize> {
        let rows = rows_of(&uids, &rows)?;
        let frame = Frame::from_rows(tick, uids, &rows, detail).map_err(PyValueError::new_err)?;
        let parts = self.parts(py, extras)?;
        Ok(push(&self.inbox, Item::Frame { frame, parts }))
    }

    /// Queues a failed tick (`info` is read by the worker's planner). Returns the queue depth.
    fn fail(&mut self, tick: u64, info: Py<PyAny>) -> usize {
        push(&self.inbox, Item::Failure { tick, info: Some(info) })
    }

    /// Holds the events of `world`'s latest step for the next capture (a tick that is not published).
    fn hold(&mut self, world: PyRef<'_, World>) {
        self.pending.extend_from_slice(&world.frame_events);
    }

    /// Ticks queued.
    #[getter]
    fn depth(&self) -> usize {
        lock(&self.inbox).items.len()
    }

    /// Ticks dropped because the queue was full.
    #[getter]
    fn dropped(&self) -> u64 {
        lock(&self.inbox).dropped
    }

    /// Empties the queue; returns how many ticks it held.
    fn clear(&self) -> usize {
        lock(&self.inbox).clear()
    }

    /// Empties the queue and refuses (and counts, in `refused`) everything
    /// queued later: the worker halted. Returns how many ticks it held.
    fn close(&self) -> usize {
        let mut inbox = lock(&self.inbox);
        inbox.closed = true;
        inbox.clear()
    }

    /// Ticks refused because the queue was closed.
    #[getter]
    fn refused(&self) -> u64 {
        lock(&self.inbox).refused
    }

    /// Makes a `TelemetryEncoder.run` waiting on this queue return now (or
    /// the next one to wait, if none waits): a flush, a stop, or a thread
    /// that needs the encoder.
    fn interrupt(&self) {
        lock(&self.inbox).interrupted = true;
        self.inbox.ready.notify_all();
    }

    /// The uids of the last capture and the held events, as plain lists.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("uids", self.last_uids.to_vec())?;
        let held: Vec<(u64, u8, Option<u64>, i32, f32)> = self
            .pending
            .iter()
            .map(|e| (e.tick, e.kind, (e.uid != NO_UID).then_some(e.uid), e.object, e.value))
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
                uid: uid.unwrap_or(NO_UID),
                object,
                value,
            });
        }
        self.last_uids = uids.into();
        self.pending = pending;
        Ok(())
    }
}

impl TelemetryRecorder {
    fn queue(
        &mut self,
        world: &World,
        tick: u64,
        detail: bool,
        timings: &Bound<'_, PyDict>,
        extras: Option<Py<PyAny>>,
        town: bool,
    ) -> PyResult<usize> {
        let parts = self.parts(timings.py(), extras)?;
        let mut frame = self.frame(world, tick, detail, timings)?;
        if town {
            frame.town = Some(Box::new(Town::sample(&world.inner, &self.venues)));
        }
        let mut inbox = lock(&self.inbox);
        let depth = inbox.push(Item::Frame { frame, parts });
        let wake = inbox.wakes_at(depth);
        self.spare = inbox.spare.pop();
        if let Some(next) = inbox.spare.last() {
            // The frame after next: its header comes from the worker's core too.
            prefetch_for_write(std::ptr::from_ref(next).cast(), size_of::<Frame>());
        }
        drop(inbox);
        if wake {
            self.inbox.ready.notify_all();
        }
        if let Some(spare) = &self.spare {
            spare.prefetch_for_write((tick + 1) % self.detail_every == 0);
        }
        Ok(depth)
    }

    /// Converts what `extras` (a `FrameExtras`, or None) holds: its town
    /// sections, Python events and console results. The worker then needs
    /// no GIL for the tick.
    fn parts(&mut self, py: Python<'_>, extras: Option<Py<PyAny>>) -> PyResult<Parts> {
        let Some(obj) = extras else {
            return Ok(Parts::default());
        };
        let bound = obj.bind(py);
        let raw = bound.getattr(intern!(py, "sections"))?;
        let sections = (!raw.is_none()).then(|| Box::new(self.reader.sample(&raw).map_err(|e| e.to_string())));
        let (extras, failed) = extras_of(bound)?;
        Ok(Parts {
            extras: extras.map(Box::new),
            failed,
            sections,
        })
    }

    fn frame(&mut self, world: &World, tick: u64, detail: bool, timings: &Bound<'_, PyDict>) -> PyResult<Frame> {
        let mut frame = self.spare.take().unwrap_or_default();
        // The population changed when the frame had to sample the detail for it.
        if frame.capture_into(&world.inner, tick, detail, &self.last_uids) && !Arc::ptr_eq(&frame.uids, &self.last_uids)
        {
            self.last_uids = Arc::clone(&frame.uids);
        }
        frame.events.append(&mut self.pending);
        frame.events.extend_from_slice(&world.frame_events);
        let mut same = timings.len() == self.stage_keys.len();
        for (i, (stage, seconds)) in timings.iter().enumerate() {
            frame.seconds.push(seconds.extract::<f64>()?);
            // Stage names repeat every tick, as the same string objects.
            same = same && stage.is(&self.stage_keys[i]);
        }
        if !same {
            let mut keys = Vec::with_capacity(timings.len());
            let mut names: Vec<Arc<str>> = Vec::with_capacity(timings.len());
            for stage in timings.keys() {
                let stage = stage.cast_into::<PyString>()?;
                names.push(Arc::from(stage.to_str()?));
                keys.push(stage.unbind());
            }
            self.stages = Arc::from(names);
            self.stage_keys = keys;
        }
        if !Arc::ptr_eq(&frame.stages, &self.stages) {
            // A recycled frame mostly holds these already: no reference count to touch.
            frame.stages = Arc::clone(&self.stages);
        }
        Ok(frame)
    }
}

/// Encoded payload lines: `(text, lines, last tick)`.
type Batch = (String, usize, u64);
/// What `write_taken` wrote (`(lines, last tick, bytes)` each) and why a write failed.
type Written = (Vec<(usize, u64, usize)>, Option<String>);
/// `run`'s result: the items needing parts, then as `write_taken`'s.
type RunOutcome<'py> = (
    Bound<'py, PyList>,
    Vec<(usize, u64, usize)>,
    Vec<(Py<PyBytes>, usize, u64)>,
    Option<String>,
);
/// `write_taken`'s result: written batches, batches left as bytes, the write error.
type WriteOutcome = (Vec<(usize, u64, usize)>, Vec<(Py<PyBytes>, usize, u64)>, Option<String>);

impl TelemetryEncoder {
    /// Encodes the taken items into batches with the GIL released; with a
    /// `sink` (`(fd, room)`), writes the leading batches that fit to `fd`
    /// there too and returns only the others.
    fn encode_batches(
        &mut self,
        py: Python<'_>,
        parts: HashMap<usize, PartsTuple>,
        batch_lines: usize,
        batch_bytes: usize,
        health: Option<String>,
        sink: Option<(i32, usize)>,
    ) -> PyResult<(Vec<Batch>, Option<Written>)> {
        if batch_lines == 0 {
            self.discard_taken();
            return Err(PyValueError::new_err("batch_lines must be at least 1"));
        }
        // The Python objects queued with failures are released here, with the GIL held.
        let mut released: Vec<Py<PyAny>> = Vec::new();
        for taken in &mut self.taken {
            if let Item::Failure { info, .. } = &mut taken.item {
                released.extend(info.take());
            }
        }
        drop(released);
        let taken = std::mem::take(&mut self.taken);
        let mut work = Work::new(
            &mut self.inner,
            self.narrator.as_ref(),
            health,
            (batch_lines, batch_bytes),
            sink,
        );
        let (batches, spent, written) = py.detach(move || work.encode(taken, parts));
        recycle(&self.inbox, spent);
        Ok((batches, written))
    }

    /// Refuses to take more while taken items wait to be encoded.
    fn ensure_untaken(&self) -> PyResult<()> {
        if self.taken.is_empty() {
            Ok(())
        } else {
            Err(PyRuntimeError::new_err(
                "encode_taken (or discard_taken) the items taken first",
            ))
        }
    }

    /// The items needing Python-side parts, as `take` returns them.
    fn wanted<'py>(&self, py: Python<'py>, wanted: Vec<usize>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for index in wanted {
            let taken = &self.taken[index];
            let (tick, kind, info) = match &taken.item {
                Item::Failure { tick, info } => (*tick, "failure", info.as_ref()),
                Item::Frame { frame, .. } => (frame.tick, if taken.snapshot { "snapshot" } else { "diff" }, None),
            };
            let info = info.map_or_else(|| py.None(), |e| e.clone_ref(py));
            out.append((index, tick, kind, info))?;
        }
        Ok(out)
    }
}

/// What encoding a chunk needs, borrowed from a `TelemetryEncoder` into a GIL-free section.
struct Work<'a> {
    encoder: &'a mut Encoder,
    narrator: Option<&'a SharedNarrator>,
    health: Option<Arc<str>>,
    batch_lines: usize,
    batch_bytes: usize,
    /// Where to write the batches that fit: `(fd, room)`.
    sink: Option<(i32, usize)>,
}

impl<'a> Work<'a> {
    /// Work for `encoder` in batches of `limits` (`(lines, bytes)`), writing to `sink` if given.
    fn new(
        encoder: &'a mut Encoder,
        narrator: Option<&'a SharedNarrator>,
        health: Option<String>,
        limits: (usize, usize),
        sink: Option<(i32, usize)>,
    ) -> Work<'a> {
        Work {
            encoder,
            narrator,
            health: health.map(Arc::from),
            batch_lines: limits.0,
            batch_bytes: limits.1,
            sink,
        }
    }

    /// Encodes `taken` in order into batches (and writes those that fit to
    /// the sink); returns the batches left, the spent frames and what was written.
    fn encode(
        &mut self,
        taken: Vec<Taken>,
        mut parts: HashMap<usize, PartsTuple>,
    ) -> (Vec<Batch>, Vec<Frame>, Option<Written>) {
        let Work {
            encoder,
            narrator,
            health,
            batch_lines,
            batch_bytes,
            sink,
        } = self;
        let (narrator, batch_lines, batch_bytes) = (*narrator, *batch_lines, *batch_bytes);
        let mut batches: Vec<Batch> = Vec::new();
        let mut spent = Vec::with_capacity(taken.len());
        let mut line = String::with_capacity(4096);
        for (index, taken) in taken.into_iter().enumerate() {
            // A routine chunk has no parts: no hashing per item for an empty map.
            let found = if parts.is_empty() { None } else { parts.remove(&index) };
            let (head, events, results, narrate) = found.unwrap_or_default();
            let narrate = narrate
                .unwrap_or_default()
                .into_iter()
                .map(|(kind, fields)| (kind, fields.into_iter().collect()))
                .collect();
            let mut plan = Plan {
                snapshot: taken.snapshot,
                seq: taken.seq,
                head,
                events,
                results,
                narrate,
                extras: None,
                sections: None,
                health: health.clone(),
            };
            line.clear();
            let tick = match taken.item {
                Item::Frame { frame, parts: queued } => {
                    plan.sections = queued.sections.and_then(|s| s.ok());
                    plan.extras = queued.extras;
                    // Locked frame by frame: health reads the narrator from other threads.
                    let mut narrator = narrator.map(lock_narrator);
                    encoder.encode(&frame, &plan, narrator.as_deref_mut(), &mut line);
                    let tick = frame.tick;
                    spent.push(frame);
                    tick
                }
                Item::Failure { tick, .. } => {
                    Encoder::encode_failure(plan.seq, tick, plan.head.as_deref(), &mut line);
                    tick
                }
            };
            line.push('\n');
            match batches.last_mut() {
                Some((text, count, last)) if *count < batch_lines && text.len() < batch_bytes => {
                    text.push_str(&line);
                    *count += 1;
                    *last = tick;
                }
                _ => {
                    let mut text = String::with_capacity(line.len().saturating_mul(64).min(1 << 22));
                    text.push_str(&line);
                    batches.push((text, 1, tick));
                }
            }
        }
        let written = sink.as_mut().map(|(fd, room)| {
            let written = write_batches(*fd, *room, &mut batches);
            *room -= written.0.iter().map(|(_, _, bytes)| bytes).sum::<usize>();
            written
        });
        (batches, spent, written)
    }
}

/// Where the stream stands: numbering, the snapshot cadence, and what the last take found.
struct Cursor {
    seq: u64,
    resync: bool,
    /// Whether a frame was taken since the published state was last reset.
    planned: bool,
    snapshot_every: u64,
    /// Whether an item of the last take carries the worker's health (a snapshot, or the KPIs of the day).
    health_due: bool,
    /// Ticks with a town section, event or console result that could not be converted (sent without it),
    /// and why the last one failed.
    unserialisable: u64,
    last_error: Option<String>,
}

impl Cursor {
    /// Whether a frame of `tick` taken next is sent as a snapshot.
    fn snapshot_due(&self, tick: u64) -> bool {
        self.resync || !self.planned || tick % self.snapshot_every == 0
    }

    /// Whether the next `limit` items of `inbox`, taken now, would carry the
    /// worker's health (a snapshot, or the KPIs of the day; a tick whose
    /// sections failed to convert is sent as a snapshot).
    fn health_due_in(&self, inbox: &Shared, limit: usize) -> bool {
        if self.resync || !self.planned {
            return true;
        }
        lock(inbox).items.iter().take(limit).any(|item| match item {
            Item::Frame { frame, parts } => {
                let sections = parts.sections.as_deref();
                self.snapshot_due(frame.tick) || today(sections) || matches!(sections, Some(Err(_)))
            }
            Item::Failure { .. } => false,
        })
    }

    /// Moves up to `limit` queued items from `inbox` into `taken` (through
    /// `intake`, swapped in O(1) when the whole queue is taken), numbering
    /// them and deciding snapshot or diff. Returns the indices of the items
    /// that need Python-side parts: the failures.
    fn take(
        &mut self,
        inbox: &Shared,
        intake: &mut VecDeque<Item>,
        taken: &mut Vec<Taken>,
        limit: usize,
    ) -> Vec<usize> {
        {
            let mut inbox = lock(inbox);
            let n = limit.min(inbox.items.len());
            if n == inbox.items.len() {
                std::mem::swap(&mut inbox.items, intake);
            } else {
                intake.extend(inbox.items.drain(..n));
            }
        }
        self.health_due = false;
        taken.reserve(intake.len());
        let mut wanted = Vec::new();
        for mut item in intake.drain(..) {
            let seq = self.seq;
            self.seq += 1;
            let (snapshot, parts) = match &mut item {
                Item::Failure { .. } => (false, true),
                Item::Frame { frame, parts } => {
                    if let Some(Err(e)) = parts.sections.as_deref() {
                        // Sent without its sections; a snapshot follows at once.
                        self.unserialisable += 1;
                        self.last_error = Some(format!("payload at tick {} not serialisable: {e}", frame.tick));
                        self.resync = true;
                        parts.sections = None;
                    }
                    if let Some(e) = parts.failed.take() {
                        // Sent without that event or result: the published state is whole.
                        self.unserialisable += 1;
                        self.last_error = Some(format!("payload at tick {} not serialisable: {e}", frame.tick));
                    }
                    let snapshot = self.snapshot_due(frame.tick);
                    self.resync = false;
                    self.planned = true;
                    self.health_due |= snapshot || today(parts.sections.as_deref());
                    (snapshot, false)
                }
            };
            if parts {
                wanted.push(taken.len());
            }
            taken.push(Taken { item, seq, snapshot });
        }
        wanted
    }
}

/// Whether converted sections carry the KPIs of the day.
fn today(sections: Option<&Sampled>) -> bool {
    matches!(sections, Some(Ok(s)) if s.today)
}

/// A batch as Python bytes.
fn as_bytes(py: Python<'_>, (text, count, tick): Batch) -> (Py<PyBytes>, usize, u64) {
    (PyBytes::new(py, text.as_bytes()).unbind(), count, tick)
}

/// Writes the leading `batches` that fit in `room` bytes to `fd`, removing
/// them; stops at the first that does not fit or fails to write.
fn write_batches(fd: i32, mut room: usize, batches: &mut Vec<Batch>) -> Written {
    let mut written = Vec::new();
    let mut error = None;
    let mut done = 0;
    for (text, count, tick) in batches.iter() {
        if text.len() > room {
            break;
        }
        if let Err(e) = write_fd(fd, text.as_bytes()) {
            error = Some(e.to_string());
            break;
        }
        room -= text.len();
        written.push((*count, *tick, text.len()));
        done += 1;
    }
    batches.drain(..done);
    (written, error)
}

/// Writes all of `data` to the open file descriptor `fd` (which stays open).
#[cfg(unix)]
fn write_fd(fd: i32, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: the caller keeps `fd` open for the call, and ManuallyDrop
    // never closes it: the File only borrows the descriptor.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.write_all(data)
}

/// Writing to a file descriptor is for Unix only; elsewhere every batch is left to Python.
#[cfg(not(unix))]
fn write_fd(_fd: i32, _data: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "writing to a file descriptor needs Unix",
    ))
}

fn rows_of(uids: &[u64], rows: &PyReadonlyArray2<'_, i64>) -> PyResult<Vec<Row>> {
    if rows.shape() != [uids.len(), N_COLUMNS] {
        return Err(PyValueError::new_err(format!(
            "rows must be ({}, {N_COLUMNS}), got {:?}",
            uids.len(),
            rows.shape()
        )));
    }
    Ok(rows
        .as_array()
        .outer_iter()
        .map(|r| std::array::from_fn(|c| r[c]))
        .collect())
}

/// Python events to narrate: kind and fields as text.
type NarrateList = Vec<(String, HashMap<String, String>)>;

/// The Python-side parts of one taken item: `(head, events, console_results, narrate)`.
type PartsTuple = (Option<String>, Option<String>, Option<String>, Option<NarrateList>);

/// A taken item with its place in the stream.
struct Taken {
    item: Item,
    seq: u64,
    snapshot: bool,
}

/// Turns the queued ticks of a `TelemetryRecorder` into payload lines
/// (schema 0.2.0) on the telemetry worker.
///
/// It owns the stream's sequence number, the snapshot cadence and the last
/// published agents (a diff is taken against the frame encoded before it).
/// `privacy_key` (at most 64 bytes) publishes agent ids as keyed hashes
/// (`anon_` + 12 hex digits); `narrator` narrates each payload's events.
#[pyclass(module = "townlet._core")]
pub struct TelemetryEncoder {
    inner: Encoder,
    inbox: Shared,
    narrator: Option<SharedNarrator>,
    cursor: Cursor,
    taken: Vec<Taken>,
    /// The queue's buffer between takes (swapped with the queue's when all of it is taken).
    intake: VecDeque<Item>,
}

#[pymethods]
impl TelemetryEncoder {
    #[new]
    #[pyo3(signature = (recorder, job_names, object_ids, privacy_key=None, narrator=None, snapshot_every=1000, venue_ids=Vec::new(), snapshot_head=None))]
    #[allow(clippy::too_many_arguments)] // the Python constructor's keywords
    fn new(
        recorder: PyRef<'_, TelemetryRecorder>,
        job_names: Vec<String>,
        object_ids: Vec<String>,
        privacy_key: Option<Vec<u8>>,
        narrator: Option<PyRef<'_, Narrator>>,
        snapshot_every: u64,
        venue_ids: Vec<String>,
        snapshot_head: Option<String>,
    ) -> PyResult<Self> {
        if privacy_key.as_ref().is_some_and(|k| k.len() > 64) {
            return Err(PyValueError::new_err("privacy_key is at most 64 bytes"));
        }
        if snapshot_every == 0 {
            return Err(PyValueError::new_err("snapshot_every must be at least 1"));
        }
        let mut inner = Encoder::new(
            Labels {
                jobs: job_names,
                objects: object_ids,
                venues: venue_ids,
            },
            Names::new(privacy_key),
        );
        inner.snapshot_head = snapshot_head.filter(|h| !h.is_empty());
        Ok(TelemetryEncoder {
            inner,
            inbox: Arc::clone(&recorder.inbox),
            narrator: narrator.map(|n| Arc::clone(&n.inner)),
            cursor: Cursor {
                seq: 0,
                resync: true,
                planned: false,
                snapshot_every,
                health_due: false,
                unserialisable: 0,
                last_error: None,
            },
            taken: Vec::new(),
            intake: VecDeque::new(),
        })
    }

    /// Takes up to `limit` queued items and gives each its sequence number
    /// and kind (a snapshot first, every `snapshot_every` ticks and after a
    /// resync; else a diff; or a failure). Returns the items that need
    /// Python-side parts, as `(index, tick, kind, info)`: only failures
    /// need any (`info` is the failure's); the core encodes the rest whole
    /// (snapshots start with `snapshot_head`; the town sections, Python
    /// events and console results were converted at capture). A tick whose
    /// town sections could not be converted (a NaN) is sent without them,
    /// counted in `unserialisable`, and a snapshot follows it; a tick with
    /// an event or console result that could not be is sent without it and
    /// counted. `health_due` then says whether any taken item carries the
    /// worker's health.
    fn take<'py>(&mut self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyList>> {
        self.ensure_untaken()?;
        // Moving the items (a few hundred bytes each) is done without the GIL.
        let (cursor, inbox, intake, taken) = (&mut self.cursor, &self.inbox, &mut self.intake, &mut self.taken);
        let wanted = py.detach(|| cursor.take(inbox, intake, taken, limit));
        self.wanted(py, wanted)
    }

    /// `take`, then, when no taken item needs Python-side parts (nor the
    /// `health` when none was given), the whole of `encode_taken` (or with
    /// `fd`, `write_taken`) in the same GIL-free section: one release of
    /// the GIL for a routine chunk. Returns `(items, written, rest, error)`:
    /// `items` as `take` returns them; when the taken items still wait
    /// (`first_taken_tick` is set), they are not encoded yet: build their
    /// parts, then call `encode_taken` or `write_taken` (with the room left
    /// after `written`). `written`, `rest` and `error` are as `write_taken`
    /// returns them (without `fd`, every batch is in `rest`).
    /// `health_due_in` says beforehand whether a chunk will need the health.
    ///
    /// With `wait` (`(depth, linger, budget)`, in items and seconds) it
    /// first waits, without the GIL, until `depth` items are queued or the
    /// first queued one has waited `linger`, and goes on chunk after chunk
    /// (the `health` given serves them all) while every batch is written to
    /// `fd`. It returns when a chunk needs Python (a failure, the health, a
    /// batch left over or a failed write), when `recorder.interrupt()` is
    /// called, when the recorder drops frames, when `budget` seconds have
    /// passed, and after a chunk without `fd`: a worker that calls it in a
    /// loop takes the GIL once a cycle, or less.
    #[pyo3(signature = (limit, fd=None, room=0, health=None, batch_lines=usize::MAX, batch_bytes=usize::MAX, wait=None))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        limit: usize,
        fd: Option<i32>,
        room: usize,
        health: Option<String>,
        batch_lines: usize,
        batch_bytes: usize,
        wait: Option<(usize, f64, f64)>,
    ) -> PyResult<RunOutcome<'py>> {
        self.ensure_untaken()?;
        if batch_lines == 0 {
            return Err(PyValueError::new_err("batch_lines must be at least 1"));
        }
        if fd.is_some_and(|fd| fd < 0) {
            return Err(PyValueError::new_err(format!(
                "fd must be an open file descriptor, got {}",
                fd.unwrap_or_default()
            )));
        }
        let wait = wait
            .map(|(depth, linger, budget)| {
                let seconds = |s: f64, what: &str| {
                    Duration::try_from_secs_f64(s)
                        .map_err(|_| PyValueError::new_err(format!("wait {what} must be seconds >= 0, got {s}")))
                };
                Ok::<_, PyErr>((depth, seconds(linger, "linger")?, seconds(budget, "budget")?))
            })
            .transpose()?;
        let (cursor, inbox, intake, taken) = (&mut self.cursor, &self.inbox, &mut self.intake, &mut self.taken);
        let mut work = Work::new(
            &mut self.inner,
            self.narrator.as_ref(),
            health,
            (batch_lines, batch_bytes),
            fd.map(|fd| (fd, room)),
        );
        let (wanted, written, rest, error) = py.detach(move || {
            let mut all_written = Vec::new();
            let until = wait.map(|(_, _, budget)| Instant::now() + budget);
            let dropped = lock(inbox).dropped;
            loop {
                if let (Some((depth, linger, _)), Some(until)) = (wait, until) {
                    if wait_ready(inbox, depth, linger, until, dropped) == Wake::Return {
                        return (Vec::new(), all_written, Vec::new(), None);
                    }
                }
                let wanted = cursor.take(inbox, intake, taken, limit);
                if !wanted.is_empty() || (cursor.health_due && work.health.is_none()) {
                    return (wanted, all_written, Vec::new(), None);
                }
                let (batches, spent, written) = work.encode(std::mem::take(taken), HashMap::new());
                recycle(inbox, spent);
                let (written, error) = written.unwrap_or_default();
                all_written.extend(written);
                if wait.is_none() || !batches.is_empty() || error.is_some() {
                    return (Vec::new(), all_written, batches, error);
                }
            }
        });
        let rest = rest.into_iter().map(|batch| as_bytes(py, batch)).collect();
        Ok((self.wanted(py, wanted)?, written, rest, error))
    }

    /// Encodes every taken item, in order, with the GIL released, and
    /// narrates their events. `parts` maps an item's index to its
    /// Python-side parts `(head, events, console_results, narrate)`: `head`
    /// adds top-level members (`"key":value,...`), `events` adds events after
    /// the core ones and the tick's own Python events (`{...},{...}`),
    /// `console_results` is a JSON array (default: the tick's own, else
    /// `[]`), `narrate` lists further events to narrate after those as
    /// `(kind, fields as text)`. Returns batches of
    /// newline-terminated payload lines as `(bytes, lines, last tick)`: a
    /// batch holds at most `batch_lines` lines and grows while it is under
    /// `batch_bytes` bytes. `health` (a JSON object) is written into the
    /// snapshots and the payloads with the KPIs of the day.
    #[pyo3(signature = (parts=HashMap::new(), batch_lines=usize::MAX, batch_bytes=usize::MAX, health=None))]
    fn encode_taken(
        &mut self,
        py: Python<'_>,
        parts: HashMap<usize, PartsTuple>,
        batch_lines: usize,
        batch_bytes: usize,
        health: Option<String>,
    ) -> PyResult<Vec<(Py<PyBytes>, usize, u64)>> {
        let (batches, _) = self.encode_batches(py, parts, batch_lines, batch_bytes, health, None)?;
        Ok(batches.into_iter().map(|batch| as_bytes(py, batch)).collect())
    }

    /// `encode_taken`, writing the batches straight to the open file
    /// descriptor `fd` with the GIL released (no bytes objects made), as long
    /// as they fit in `room` bytes and the writes succeed. Returns `(written,
    /// rest, error)`: `written` lists `(lines, last tick, bytes)` of the
    /// batches written, `rest` the batches left to send another way, as
    /// `encode_taken` returns them (one that would pass `room`, a failed one,
    /// and all after it), and `error` says why a write failed (or None). The
    /// caller keeps `fd` open for the call.
    #[pyo3(signature = (fd, room, parts=HashMap::new(), batch_lines=usize::MAX, batch_bytes=usize::MAX, health=None))]
    #[allow(clippy::too_many_arguments)] // the Python signature: encode_taken's and where to write
    fn write_taken(
        &mut self,
        py: Python<'_>,
        fd: i32,
        room: usize,
        parts: HashMap<usize, PartsTuple>,
        batch_lines: usize,
        batch_bytes: usize,
        health: Option<String>,
    ) -> PyResult<WriteOutcome> {
        if fd < 0 {
            self.discard_taken();
            return Err(PyValueError::new_err(format!(
                "fd must be an open file descriptor, got {fd}"
            )));
        }
        let (batches, outcome) = self.encode_batches(py, parts, batch_lines, batch_bytes, health, Some((fd, room)))?;
        let (written, error) = outcome.unwrap_or_default();
        let rest = batches.into_iter().map(|batch| as_bytes(py, batch)).collect();
        Ok((written, rest, error))
    }

    /// Whether the next `limit` queued ticks, taken now, would carry the
    /// worker's health (read it for `run` only then).
    fn health_due_in(&self, limit: usize) -> bool {
        self.cursor.health_due_in(&self.inbox, limit)
    }

    /// Whether an item of the last `take` carries the worker's health (pass it to the encode call).
    #[getter]
    fn health_due(&self) -> bool {
        self.cursor.health_due
    }

    /// Ticks with a town section, event or console result that could not be converted (sent without it).
    #[getter]
    fn unserialisable(&self) -> u64 {
        self.cursor.unserialisable
    }

    /// Why the last of `unserialisable` failed (None when none did).
    #[getter]
    fn last_error(&self) -> Option<String> {
        self.cursor.last_error.clone()
    }

    /// The Python-side town sections as last sampled and as last published:
    /// two dicts of `employment`, `kpis`, `rewards` and `slowest_ticks` (those there are).
    fn sections<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let sections = &self.inner.sections;
        Ok((
            sections_to_py(py, &sections.latest)?,
            sections_to_py(py, &sections.published)?,
        ))
    }

    /// Replaces the Python-side town sections (`sections` output); other keys are ignored.
    fn set_sections(&mut self, latest: &Bound<'_, PyDict>, published: &Bound<'_, PyDict>) -> PyResult<()> {
        let latest = sections_from_py(latest)?;
        let published = sections_from_py(published)?;
        self.inner.sections.latest = latest;
        self.inner.sections.published = published;
        Ok(())
    }

    /// The tick of the first item taken and not yet encoded (None when none).
    #[getter]
    fn first_taken_tick(&self) -> Option<u64> {
        self.taken.first().map(|t| match &t.item {
            Item::Frame { frame, .. } => frame.tick,
            Item::Failure { tick, .. } => *tick,
        })
    }

    /// Drops the taken items unencoded (after a failure); returns how many there were.
    fn discard_taken(&mut self) -> usize {
        let n = self.taken.len();
        let mut inbox = lock(&self.inbox);
        for taken in self.taken.drain(..) {
            if let Item::Frame { frame, .. } = taken.item {
                inbox.recycle(frame);
            }
        }
        n
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

    /// The next payload's sequence number.
    #[getter]
    fn get_seq(&self) -> u64 {
        self.cursor.seq
    }

    #[setter]
    fn set_seq(&mut self, seq: u64) {
        self.cursor.seq = seq;
    }

    /// Whether the next frame is sent as a snapshot (set after a loss or on request).
    #[getter]
    fn get_resync(&self) -> bool {
        self.cursor.resync
    }

    #[setter]
    fn set_resync(&mut self, resync: bool) {
        self.cursor.resync = resync;
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

    /// The town sections as last published and as last sampled, each None
    /// or `(population, prices, stock, weather, utilities, queues,
    /// embeddings)` (prices in units of 0.0001, stock per venue).
    fn town(&self) -> (Option<TownParts>, Option<TownParts>) {
        (
            self.inner.town.as_ref().map(Town::to_parts),
            self.inner.town_latest.as_ref().map(Town::to_parts),
        )
    }

    /// Replaces the town sections (`town` output).
    #[pyo3(signature = (published=None, latest=None))]
    fn set_town(&mut self, published: Option<TownParts>, latest: Option<TownParts>) {
        self.inner.town = published.map(Town::from);
        self.inner.town_latest = latest.map(Town::from);
    }

    /// Replaces the published agents (`table` output), or forgets them with None.
    #[pyo3(signature = (uids=None, rows=None))]
    fn set_table(&mut self, uids: Option<Vec<u64>>, rows: Option<PyReadonlyArray2<'_, i64>>) -> PyResult<()> {
        let (Some(uids), Some(rows)) = (uids, rows) else {
            self.inner.table = None;
            self.cursor.planned = false;
            return Ok(());
        };
        let rows = rows_of(&uids, &rows)?;
        self.inner.table = Some(Table { uids, rows });
        self.cursor.planned = true;
        Ok(())
    }
}
