//! Telemetry frames and payload encoding (schema `0.2.0`).
//!
//! The tick thread captures a [`Frame`]: every live agent's published
//! values, quantised to integers (needs and money to 0.01, the attendance
//! ratio to 0.001), the tick's events with the uid of the agent each one
//! names, and the stage timings. The telemetry worker hands frames to an
//! [`Encoder`], which keeps the last published agent table and writes each
//! payload as one JSON line: the agents (a full map in a snapshot; in a
//! diff, `moved` and `needs` column lists plus an `agents` merge patch for
//! arrivals, departures and changed options, wallets and job status), the
//! events, and the Python-built parts of the payload spliced in verbatim
//! (see [`Plan`]).
//!
//! The layout of the published objects is the contract documented in
//! `docs/telemetry.md` and the JSON Schemas shipped with the package.

mod blake2b;
pub mod extras;
mod json;
pub mod narration;
pub mod town;
pub mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use blake2b::blake2b;
pub use extras::Extras;
use json::{write_f64, write_fixed, write_int, write_str};
use narration::{Narration, Narrator};
pub use town::{Town, TownParts};
use value::{SectionSample, Sections, Value};

use crate::tick::{Event, EVENT_KINDS, OPTIONS};
use crate::world::World;

/// Payload schema version written into every payload.
pub const SCHEMA_VERSION: &str = "0.2.0";
/// Published attendance states, by `employment::Attendance` code.
pub const ATTENDANCE_STATES: [&str; 5] = ["off_shift", "pending", "on_time", "late", "absent"];
/// An event that names no agent.
pub const NO_UID: u64 = u64::MAX;

/// Quantisation scales.
pub const NEED_SCALE: f32 = 100.0;
pub const MONEY_SCALE: f64 = 100.0;
pub const RATIO_SCALE: f64 = 1000.0;

// Columns of a quantised agent row.
pub const X: usize = 0;
pub const Y: usize = 1;
pub const HUNGER: usize = 2;
pub const OPTION: usize = 5;
pub const WALLET: usize = 6;
pub const JOB: usize = 7;
pub const ATT_STATE: usize = 8;
pub const ATT_RATIO: usize = 9;
pub const LATE: usize = 10;
pub const ABSENCES: usize = 11;
pub const EARNED: usize = 12;
pub const WITHHELD: usize = 13;
/// Columns per agent row; the first [`BASE`] are sampled every frame,
/// the rest (the detail) when the frame says so.
pub const N_COLUMNS: usize = 14;
/// Columns sampled every frame: position, needs, option.
pub const BASE: usize = WALLET;

/// One agent's published values, quantised.
pub type Row = [i64; N_COLUMNS];
/// One agent's every-frame values in a frame (position, needs, option):
/// 16 bits each, as grid coordinates are below 4096, needs in `[0, 1]`
/// are 0..=100 and options are few (a larger value saturates).
pub type BaseRow = [i16; BASE];
/// One agent's detail values in a frame (wallet, job, attendance).
pub type DetailRow = [i64; N_COLUMNS - BASE];

/// Attendance states that count as on shift (`on_time`, `late`).
fn on_shift(state: i64) -> bool {
    state == 2 || state == 3
}

/// One event as published: the core event with the agent's uid in place of its slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameEvent {
    pub tick: u64,
    pub kind: u8,
    /// Uid of the agent the event names, or [`NO_UID`].
    pub uid: u64,
    /// Object index, or negative for none.
    pub object: i32,
    pub value: f32,
}

impl FrameEvent {
    /// The published form of `event`, naming the agent in its slot in `world` now.
    pub fn from_event(event: &Event, world: &World) -> FrameEvent {
        let agents = world.agents();
        let slot = event.slot as usize;
        let uid = if event.slot != u32::MAX && agents.is_alive(slot) {
            agents.uid[slot]
        } else {
            NO_UID
        };
        FrameEvent {
            tick: event.tick,
            kind: event.kind as u8,
            uid,
            object: event.object,
            value: event.value,
        }
    }
}

/// One published tick as captured on the tick thread.
///
/// The every-frame values are kept narrow, the uids are shared with the
/// previous frame while the population is unchanged, and the detail is
/// kept only when sampled, so a frame of 64 agents writes under 1 kB.
/// Frames are recycled: [`Frame::capture_into`] refills a spent frame's
/// buffers, so a steady stream allocates nothing. Up to `max_pending`
/// frames wait for the worker, so their size is the queue's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub tick: u64,
    /// Live agents' uids, in slot order (shared while they do not change).
    pub uids: Arc<[u64]>,
    /// Their every-frame values.
    pub base: Vec<BaseRow>,
    /// Whether the detail columns (wallet, job, attendance) were sampled.
    pub detail: bool,
    /// Their detail values when `detail` (else empty).
    pub details: Vec<DetailRow>,
    pub events: Vec<FrameEvent>,
    /// Stage names, shared from frame to frame (one reference count per frame).
    pub stages: Arc<[Arc<str>]>,
    /// Seconds per stage, in `stages` order.
    pub seconds: Vec<f64>,
    /// The town-wide sections, on the ticks that sample them.
    pub town: Option<Box<Town>>,
}

impl Frame {
    /// Captures `world` now into this frame, reusing its buffers (events
    /// and timings are cleared; the caller adds them). The uids are
    /// `previous` (those of the last capture) when the population is the
    /// same; otherwise the detail columns are sampled too, as they are when
    /// `detail` is set. Returns whether they were.
    pub fn capture_into(&mut self, world: &World, tick: u64, detail: bool, previous: &Arc<[u64]>) -> bool {
        let agents = world.agents();
        let options = world.committed_options();
        self.tick = tick;
        self.base.clear();
        self.details.clear();
        self.events.clear();
        self.seconds.clear();
        self.town = None;
        let mut same = true;
        for (i, slot) in agents.slots().enumerate() {
            same = same && previous.get(i) == Some(&agents.uid[slot]);
            let n = agents.needs[slot];
            self.base.push([
                narrow(i64::from(agents.x[slot])),
                narrow(i64::from(agents.y[slot])),
                need(n[0]),
                need(n[1]),
                need(n[2]),
                i16::from(options.get(slot).copied().unwrap_or(0)),
            ]);
        }
        same = same && previous.len() == self.base.len();
        if same {
            if !Arc::ptr_eq(&self.uids, previous) {
                self.uids = Arc::clone(previous);
            }
        } else {
            self.uids = agents.slots().map(|slot| agents.uid[slot]).collect();
        }
        self.detail = detail || !same;
        if self.detail {
            for slot in agents.slots() {
                let mut d = [0i64; N_COLUMNS - BASE];
                d[WALLET - BASE] = money(agents.wallet[slot]);
                d[JOB - BASE] = i64::from(agents.job[slot]);
                if let Some(r) = world.attendance(slot) {
                    d[ATT_STATE - BASE] = i64::from(r.state as u8);
                    d[ATT_RATIO - BASE] = quantise(r.attendance_ratio(), RATIO_SCALE);
                    d[LATE - BASE] = r.late_ticks.min(i64::MAX as u64) as i64;
                    d[ABSENCES - BASE] = i64::from(r.absences);
                    d[EARNED - BASE] = money(r.wages_earned);
                    d[WITHHELD - BASE] = money(r.wages_withheld);
                }
                self.details.push(d);
            }
        }
        self.detail
    }

    /// Asks the CPU to fetch this frame's buffers for writing, ahead of its
    /// next [`Frame::capture_into`] (the detail's too when `detail`).
    ///
    /// A recycled frame was last read by the worker on another core, so a
    /// capture into it would stall on taking its cache lines back, one
    /// after another; prefetched a tick early, the capture finds them
    /// ready. A hint only: it changes no value (a no-op off x86-64).
    pub fn prefetch_for_write(&self, detail: bool) {
        prefetch_for_write(self.base.as_ptr().cast(), size_of_val(self.base.as_slice()));
        prefetch_for_write(self.seconds.as_ptr().cast(), size_of_val(self.seconds.as_slice()));
        prefetch_for_write(
            self.events.as_ptr().cast(),
            size_of_val(self.events.as_slice()).min(PREFETCH_MAX),
        );
        if detail {
            prefetch_for_write(self.details.as_ptr().cast(), size_of_val(self.details.as_slice()));
        }
    }

    /// A frame from full rows (tools and tests); the detail columns are
    /// kept when `detail`. Fails when an every-frame value does not fit 16 bits.
    pub fn from_rows(tick: u64, uids: Vec<u64>, rows: &[Row], detail: bool) -> Result<Frame, String> {
        let mut base = Vec::with_capacity(rows.len());
        for row in rows {
            let mut b = [0i16; BASE];
            for (dst, &v) in b.iter_mut().zip(row) {
                *dst = i16::try_from(v).map_err(|_| format!("value {v} does not fit a frame column"))?;
            }
            base.push(b);
        }
        let details = if detail {
            rows.iter().map(|r| std::array::from_fn(|c| r[BASE + c])).collect()
        } else {
            Vec::new()
        };
        Ok(Frame {
            tick,
            uids: uids.into(),
            base,
            detail,
            details,
            ..Frame::default()
        })
    }
}

/// Most bytes of one buffer [`Frame::prefetch_for_write`] asks for.
const PREFETCH_MAX: usize = 8192;

/// Hints that the `len` bytes at `start` (at most [`PREFETCH_MAX`]) will
/// be written soon: `prefetchw` where the CPU has it.
#[cfg(target_arch = "x86_64")]
pub fn prefetch_for_write(start: *const u8, len: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
    const LINE: usize = 64;
    for offset in (0..len.min(PREFETCH_MAX)).step_by(LINE) {
        // SAFETY: a prefetch is a hint: it never faults or changes memory,
        // whatever the address (and these are inside a live buffer).
        unsafe { _mm_prefetch::<_MM_HINT_ET0>(start.wrapping_add(offset).cast()) };
    }
}

/// Hints that memory will be written soon (nothing to do on this CPU).
#[cfg(not(target_arch = "x86_64"))]
pub fn prefetch_for_write(_start: *const u8, _len: usize) {}

/// A quantised every-frame value in 16 bits (saturating).
fn narrow(v: i64) -> i16 {
    i16::try_from(v).unwrap_or(if v < 0 { i16::MIN } else { i16::MAX })
}

/// A need quantised to 0.01 in 16 bits: `quantise(need * NEED_SCALE, 1.0)`
/// narrowed, computed in `f32` (the product already is one) with the same
/// round-half-to-even trick: a frame's hottest loop.
#[allow(clippy::cast_possible_truncation)] // |x| < 2^15 here
fn need(n: f32) -> i16 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = n * NEED_SCALE;
    if x.abs() < 32_767.5 {
        ((x + MAGIC) - MAGIC) as i16
    } else if !x.is_finite() {
        0
    } else if x < 0.0 {
        i16::MIN
    } else {
        i16::MAX
    }
}

/// `v * scale` rounded half to even, as Python's `round` does.
///
/// Adding and subtracting 1.5 * 2^52 rounds to an integer in the current
/// (round-to-nearest-even) mode without a libm call; values too large for
/// the trick take the slow path.
#[allow(clippy::cast_possible_truncation)] // |x| < 2^51 here
fn quantise(v: f64, scale: f64) -> i64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let x = v * scale;
    if x.abs() < 2_251_799_813_685_248.0 {
        ((x + MAGIC) - MAGIC) as i64
    } else if x.is_finite() {
        x.round_ties_even() as i64
    } else {
        0
    }
}

fn money(v: f64) -> i64 {
    quantise(v, MONEY_SCALE)
}

/// A fast hasher for uid keys (uids are dense counters; no untrusted input).
#[derive(Debug, Clone, Copy, Default)]
pub struct UidHasher(u64);

impl std::hash::Hasher for UidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type UidMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<UidHasher>>;

/// How published ids are made from uids: `agent_<uid>`, or in privacy
/// mode `anon_` plus the hex of a 6-byte keyed `BLAKE2b` of that id.
#[derive(Debug, Clone, Default)]
pub struct Names {
    key: Option<Vec<u8>>,
    cache: UidMap<String>,
}

impl Names {
    /// Raw ids without a key; hashed ids under `key` (at most 64 bytes).
    pub fn new(key: Option<Vec<u8>>) -> Names {
        Names {
            key,
            cache: UidMap::default(),
        }
    }

    /// Whether ids are hashed.
    pub fn hashed(&self) -> bool {
        self.key.is_some()
    }

    /// Writes the published id of `uid` as a JSON string (ids need no escaping).
    pub fn write(&mut self, out: &mut String, uid: u64) {
        out.push('"');
        out.push_str(self.get(uid));
        out.push('"');
    }

    /// The published id of `uid`.
    pub fn get(&mut self, uid: u64) -> &str {
        if self.cache.len() > 1_000_000 {
            self.cache.clear(); // uids are never reused; keep the cache bounded
        }
        let key = &self.key;
        self.cache.entry(uid).or_insert_with(|| {
            let raw = format!("agent_{uid}");
            match key {
                None => raw,
                Some(k) => hashed_id(k, &raw),
            }
        })
    }

    /// `text` with every agent id in it (`agent_` and digits, as a whole
    /// word) replaced by its published form; None when nothing changes
    /// (always without a key).
    pub fn scrub_text(&mut self, text: &str) -> Option<String> {
        if self.key.is_none() || !text.contains("agent_") {
            return None;
        }
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let mut out = String::with_capacity(text.len());
        let (mut copied, mut from) = (0, 0);
        while let Some(at) = text[from..].find("agent_") {
            let start = from + at;
            let digits = start + "agent_".len();
            let end = digits + text[digits..].bytes().take_while(u8::is_ascii_digit).count();
            let whole = end > digits
                && text[..start].chars().next_back().is_none_or(|c| !is_word(c))
                && text[end..].chars().next().is_none_or(|c| !is_word(c));
            if !whole {
                from = start + 1; // past the ASCII `a`
                continue;
            }
            out.push_str(&text[copied..start]);
            let id = &text[start..end];
            match id[6..].parse::<u64>() {
                Ok(uid) if format!("agent_{uid}") == id => out.push_str(self.get(uid)),
                _ => out.push_str(&hashed_id(self.key.as_deref().unwrap_or_default(), id)),
            }
            copied = end;
            from = end;
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }
}

/// `anon_` plus the hex of a 6-byte `BLAKE2b` of `id` under `key`.
fn hashed_id(key: &[u8], id: &str) -> String {
    let digest = blake2b(6, key, id.as_bytes());
    let mut out = String::with_capacity(17);
    out.push_str("anon_");
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// The agents of the last published state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub uids: Vec<u64>,
    pub rows: Vec<Row>,
}

impl Table {
    fn index(&self) -> UidMap<usize> {
        self.uids.iter().enumerate().map(|(i, &u)| (u, i)).collect()
    }
}

/// The Python-built parts of one payload and its place in the stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// A full snapshot (else a diff against the last encoded frame).
    pub snapshot: bool,
    pub seq: u64,
    /// Further top-level members (`"key":value,...`, no braces).
    pub head: Option<String>,
    /// The tick's Python events and console results, converted at capture:
    /// the events follow the core ones and are narrated after them.
    pub extras: Option<Box<Extras>>,
    /// Events after those (`{...},{...}`, no brackets).
    pub events: Option<String>,
    /// The `console_results` array (default: those of `extras`, else `[]`).
    pub results: Option<String>,
    /// Further events to narrate after those: kind and fields as text.
    pub narrate: Vec<(String, Vec<(String, String)>)>,
    /// The Python-side town sections sampled with this tick.
    pub sections: Option<SectionSample>,
    /// The worker's health (a JSON object), written in snapshots and with the KPIs of the day.
    pub health: Option<Arc<str>>,
}

/// Names for indices: jobs, objects and the stocked venues of [`Town::stock`].
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub jobs: Vec<String>,
    pub objects: Vec<String>,
    pub venues: Vec<String>,
}

/// Turns frames into payload lines, one after another (the worker owns it).
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    pub names: Names,
    pub labels: Labels,
    /// The last published agents (None before the first payload).
    pub table: Option<Table>,
    /// The table before it, kept to be refilled.
    spare: Option<Table>,
    /// The town sections as last published, and as last sampled (what a snapshot carries).
    pub town: Option<Town>,
    pub town_latest: Option<Town>,
    /// The Python-side town sections (`employment`, `kpis`, `rewards`, `slowest_ticks`).
    pub sections: Sections,
    /// Further top-level members of every snapshot (`"key":value,...`).
    pub snapshot_head: Option<String>,
    scratch: Scratch,
}

/// Buffers reused from one diff to the next.
#[derive(Debug, Clone, Default)]
struct Scratch {
    pairs: Vec<(usize, usize)>,
    moved: String,
    positions: String,
    fed: String,
    values: String,
    agents: String,
}

impl Encoder {
    /// An encoder with no published state yet.
    pub fn new(labels: Labels, names: Names) -> Encoder {
        Encoder {
            names,
            labels,
            table: None,
            spare: None,
            town: None,
            town_latest: None,
            sections: Sections::default(),
            snapshot_head: None,
            scratch: Scratch::default(),
        }
    }

    /// Appends the payload for `frame` (without a newline) to `out` and makes
    /// the frame's agents the published state (detail columns not sampled
    /// carry over from it). A diff with nothing published yet is written as
    /// a snapshot. With a `narrator`, the frame's core events and then the
    /// plan's Python events are narrated at the frame's tick; the
    /// narrations close the events.
    pub fn encode(&mut self, frame: &Frame, plan: &Plan, narrator: Option<&mut Narrator>, out: &mut String) {
        let snapshot = plan.snapshot || self.table.is_none();
        out.push_str("{\"schema_version\":\"");
        out.push_str(SCHEMA_VERSION);
        out.push_str(if snapshot {
            "\",\"kind\":\"snapshot\""
        } else {
            "\",\"kind\":\"diff\""
        });
        push_int(out, ",\"seq\":", plan.seq);
        push_int(out, ",\"tick\":", frame.tick);
        let previous = self.table.take();
        let table = Self::published(self.spare.take().unwrap_or_default(), frame, previous.as_ref());
        if snapshot {
            out.push_str(",\"agents\":{");
            for (i, (&uid, row)) in table.uids.iter().zip(&table.rows).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                self.names.write(out, uid);
                out.push(':');
                self.full(out, row);
            }
            out.push('}');
        } else if let Some(old) = &previous {
            self.diff(out, old, &table);
        }
        self.town_sections(frame, snapshot, out);
        if let Some(sample) = &plan.sections {
            self.sections.apply(sample, &mut self.names);
        }
        if snapshot || plan.sections.is_some() {
            self.sections.write(snapshot, out);
        }
        let today = plan.sections.as_ref().is_some_and(|s| s.today);
        if let Some(head) = self.snapshot_head.as_deref().filter(|_| snapshot) {
            out.push(',');
            out.push_str(head);
        }
        if let Some(health) = plan.health.as_deref().filter(|_| snapshot || today) {
            out.push_str(",\"health\":");
            out.push_str(health);
        }
        if let Some(head) = plan.head.as_deref().filter(|h| !h.is_empty()) {
            out.push(',');
            out.push_str(head);
        }
        let scrubbed;
        let extras = match plan.extras.as_deref() {
            Some(extras) if self.names.hashed() => {
                let mut copy = extras.clone();
                copy.scrub(&mut self.names);
                scrubbed = copy;
                Some(&scrubbed)
            }
            extras => extras,
        };
        out.push_str(",\"events\":[");
        let mut first = true;
        for e in &frame.events {
            if !first {
                out.push(',');
            }
            first = false;
            self.event(out, e);
        }
        for e in extras.into_iter().flat_map(Extras::published) {
            if !first {
                out.push(',');
            }
            first = false;
            e.write(out);
        }
        if let Some(events) = plan.events.as_deref().filter(|e| !e.is_empty()) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(events);
        }
        if let Some(narrator) = narrator {
            for n in self.narrate(narrator, frame, extras, plan) {
                if !first {
                    out.push(',');
                }
                first = false;
                write_narration(out, &n);
            }
        }
        out.push_str("],\"console_results\":");
        match (plan.results.as_deref(), extras.map(|x| x.results.as_slice())) {
            (Some(results), _) => out.push_str(results),
            (None, Some(results)) if !results.is_empty() => Value::write_list(results, out),
            _ => out.push_str("[]"),
        }
        out.push_str(",\"timings_us\":{");
        for (i, (stage, seconds)) in frame.stages.iter().zip(&frame.seconds).enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, stage);
            out.push(':');
            let us = seconds * 1e6;
            push_int_signed(out, "", if us.is_finite() { us as i64 } else { 0 });
        }
        out.push_str("}}");
        self.table = Some(table);
        self.spare = previous;
    }

    /// The town sections of a payload: the latest sample whole in a
    /// snapshot; in a diff, merge patches of what changed since the last
    /// published sample (when the frame has one).
    fn town_sections(&mut self, frame: &Frame, snapshot: bool, out: &mut String) {
        if let Some(town) = frame.town.as_deref() {
            match &mut self.town_latest {
                Some(latest) => latest.clone_from(town),
                None => self.town_latest = Some(town.clone()),
            }
        }
        let venues = &self.labels.venues;
        if snapshot {
            if let Some(latest) = &self.town_latest {
                latest.write_full(venues, out);
                self.town.clone_from(&self.town_latest);
            }
        } else if let Some(town) = frame.town.as_deref() {
            match &self.town {
                Some(old) => town.write_patch(old, venues, out),
                None => town.write_full(venues, out),
            }
            self.town.clone_from(&self.town_latest);
        }
    }

    /// The published agents after `frame`, built in `table`'s buffers: the
    /// frame's values, with the detail carried from `previous` when the
    /// frame has none (zeros for agents it does not know).
    fn published(mut table: Table, frame: &Frame, previous: Option<&Table>) -> Table {
        table.uids.clear();
        table.uids.extend_from_slice(&frame.uids);
        table.rows.clear();
        let carry = previous.filter(|_| !frame.detail);
        let index = carry.filter(|old| *old.uids != *frame.uids).map(Table::index);
        for (i, b) in frame.base.iter().enumerate() {
            let mut row = [0i64; N_COLUMNS];
            for (dst, &v) in row.iter_mut().zip(b) {
                *dst = i64::from(v);
            }
            if let Some(d) = frame.details.get(i) {
                row[BASE..].copy_from_slice(d);
            } else if let Some(old) = carry {
                let j = match &index {
                    None => Some(i),
                    Some(index) => index.get(&frame.uids[i]).copied(),
                };
                if let Some(j) = j {
                    row[BASE..].copy_from_slice(&old.rows[j][BASE..]);
                }
            }
            table.rows.push(row);
        }
        table
    }

    /// Appends a `failure` payload (without a newline): `head` holds its
    /// further members (`"failure":{...}`). The published state is untouched.
    pub fn encode_failure(seq: u64, tick: u64, head: Option<&str>, out: &mut String) {
        out.push_str("{\"schema_version\":\"");
        out.push_str(SCHEMA_VERSION);
        out.push_str("\",\"kind\":\"failure\"");
        push_int(out, ",\"seq\":", seq);
        push_int(out, ",\"tick\":", tick);
        if let Some(head) = head.filter(|h| !h.is_empty()) {
            out.push(',');
            out.push_str(head);
        }
        out.push('}');
    }

    fn job_name(&self, job: i64) -> Option<&str> {
        usize::try_from(job)
            .ok()
            .and_then(|j| self.labels.jobs.get(j))
            .map(String::as_str)
    }

    /// One agent object with every field.
    fn full(&self, out: &mut String, row: &Row) {
        push_int_signed(out, "{\"position\":[", row[X]);
        push_int_signed(out, ",", row[Y]);
        out.push_str("],\"needs\":{\"hunger\":");
        write_fixed(out, row[HUNGER], 2);
        out.push_str(",\"hygiene\":");
        write_fixed(out, row[HUNGER + 1], 2);
        out.push_str(",\"energy\":");
        write_fixed(out, row[HUNGER + 2], 2);
        out.push_str("},\"wallet\":");
        write_fixed(out, row[WALLET], 2);
        out.push_str(",\"option\":");
        write_plain(out, option_name(row[OPTION]));
        out.push_str(",\"job\":{");
        if let Some(name) = self.job_name(row[JOB]) {
            out.push_str("\"name\":");
            write_str(out, name);
            out.push(',');
        }
        out.push_str("\"attendance_state\":");
        write_plain(out, attendance_name(row[ATT_STATE]));
        out.push_str(if on_shift(row[ATT_STATE]) {
            ",\"on_shift\":true"
        } else {
            ",\"on_shift\":false"
        });
        out.push_str(",\"attendance_ratio\":");
        write_fixed(out, row[ATT_RATIO], 3);
        push_int_signed(out, ",\"late_ticks\":", row[LATE]);
        push_int_signed(out, ",\"absences\":", row[ABSENCES]);
        out.push_str(",\"wages_earned\":");
        write_fixed(out, row[EARNED], 2);
        out.push_str(",\"wages_withheld\":");
        write_fixed(out, row[WITHHELD], 2);
        out.push_str("}}");
    }

    /// The `moved`, `needs` and `agents` members of a diff from `old` to `new`.
    fn diff(&mut self, out: &mut String, old: &Table, new: &Table) {
        let mut sc = std::mem::take(&mut self.scratch);
        // Pairs (old row, new row) of the agents in both, in the new order.
        sc.pairs.clear();
        if old.uids == new.uids {
            sc.pairs.extend((0..new.uids.len()).map(|i| (i, i)));
        } else {
            let index = old.index();
            sc.pairs.extend(
                new.uids
                    .iter()
                    .enumerate()
                    .filter_map(|(i, u)| index.get(u).map(|&o| (o, i))),
            );
        }
        for buf in [
            &mut sc.moved,
            &mut sc.positions,
            &mut sc.fed,
            &mut sc.values,
            &mut sc.agents,
        ] {
            buf.clear();
        }
        for &(o, i) in &sc.pairs {
            let (a, b) = (&old.rows[o], &new.rows[i]);
            if a[X] != b[X] || a[Y] != b[Y] {
                sep(&mut sc.moved);
                self.names.write(&mut sc.moved, new.uids[i]);
                sep(&mut sc.positions);
                push_int_signed(&mut sc.positions, "[", b[X]);
                push_int_signed(&mut sc.positions, ",", b[Y]);
                sc.positions.push(']');
            }
            if a[HUNGER..OPTION] != b[HUNGER..OPTION] {
                sep(&mut sc.fed);
                self.names.write(&mut sc.fed, new.uids[i]);
                sep(&mut sc.values);
                sc.values.push('[');
                for k in 0..3 {
                    if k > 0 {
                        sc.values.push(',');
                    }
                    write_fixed(&mut sc.values, b[HUNGER + k], 2);
                }
                sc.values.push(']');
            }
        }
        if !sc.moved.is_empty() {
            out.push_str(",\"moved\":{\"ids\":[");
            out.push_str(&sc.moved);
            out.push_str("],\"positions\":[");
            out.push_str(&sc.positions);
            out.push_str("]}");
        }
        if !sc.fed.is_empty() {
            out.push_str(",\"needs\":{\"ids\":[");
            out.push_str(&sc.fed);
            out.push_str("],\"values\":[");
            out.push_str(&sc.values);
            out.push_str("]}");
        }
        let agents = &mut sc.agents;
        if sc.pairs.len() != new.uids.len() || sc.pairs.len() != old.uids.len() {
            let mut kept = vec![false; new.uids.len()];
            for &(_, i) in &sc.pairs {
                kept[i] = true;
            }
            for (i, row) in new.rows.iter().enumerate() {
                if !kept[i] {
                    sep(agents);
                    self.names.write(agents, new.uids[i]);
                    agents.push(':');
                    self.full(agents, row);
                }
            }
            let still: std::collections::HashSet<u64> = new.uids.iter().copied().collect();
            for &uid in &old.uids {
                if !still.contains(&uid) {
                    sep(agents);
                    self.names.write(agents, uid);
                    agents.push_str(":null");
                }
            }
        }
        for &(o, i) in &sc.pairs {
            let (a, b) = (&old.rows[o], &new.rows[i]);
            if a[OPTION..] != b[OPTION..] {
                sep(agents);
                self.names.write(agents, new.uids[i]);
                agents.push(':');
                self.patch(agents, a, b);
            }
        }
        if !agents.is_empty() {
            out.push_str(",\"agents\":{");
            out.push_str(agents);
            out.push('}');
        }
        self.scratch = sc;
    }

    /// The merge patch of one kept agent whose option, wallet or job status changed.
    fn patch(&self, out: &mut String, a: &Row, b: &Row) {
        out.push('{');
        let mut first = true;
        let mut member = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
        };
        if a[OPTION] != b[OPTION] {
            member(out, "option");
            write_plain(out, option_name(b[OPTION]));
        }
        if a[WALLET] != b[WALLET] {
            member(out, "wallet");
            write_fixed(out, b[WALLET], 2);
        }
        if a[JOB..] != b[JOB..] {
            member(out, "job");
            out.push('{');
            let mut job = String::new();
            if a[JOB] != b[JOB] {
                sep(&mut job);
                job.push_str("\"name\":");
                match self.job_name(b[JOB]) {
                    Some(name) => write_str(&mut job, name),
                    None => job.push_str("null"),
                }
            }
            if a[ATT_STATE] != b[ATT_STATE] {
                sep(&mut job);
                job.push_str("\"attendance_state\":");
                write_plain(&mut job, attendance_name(b[ATT_STATE]));
                if on_shift(a[ATT_STATE]) != on_shift(b[ATT_STATE]) {
                    job.push_str(if on_shift(b[ATT_STATE]) {
                        ",\"on_shift\":true"
                    } else {
                        ",\"on_shift\":false"
                    });
                }
            }
            if a[ATT_RATIO] != b[ATT_RATIO] {
                sep(&mut job);
                job.push_str("\"attendance_ratio\":");
                write_fixed(&mut job, b[ATT_RATIO], 3);
            }
            if a[LATE] != b[LATE] {
                sep(&mut job);
                push_int_signed(&mut job, "\"late_ticks\":", b[LATE]);
            }
            if a[ABSENCES] != b[ABSENCES] {
                sep(&mut job);
                push_int_signed(&mut job, "\"absences\":", b[ABSENCES]);
            }
            if a[EARNED] != b[EARNED] {
                sep(&mut job);
                job.push_str("\"wages_earned\":");
                write_fixed(&mut job, b[EARNED], 2);
            }
            if a[WITHHELD] != b[WITHHELD] {
                sep(&mut job);
                job.push_str("\"wages_withheld\":");
                write_fixed(&mut job, b[WITHHELD], 2);
            }
            out.push_str(&job);
            out.push('}');
        }
        out.push('}');
    }

    /// Narrates the frame's core events, then the published Python events
    /// of `extras` (already scrubbed), then those the plan adds.
    fn narrate(
        &mut self,
        narrator: &mut Narrator,
        frame: &Frame,
        extras: Option<&Extras>,
        plan: &Plan,
    ) -> Vec<Narration> {
        let tick = i64::try_from(frame.tick).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for e in &frame.events {
            let kind = event_name(e.kind);
            if !narrator.narrates(kind) {
                continue;
            }
            let agent = (e.uid != NO_UID).then(|| self.names.get(e.uid).to_owned());
            let object = usize::try_from(e.object)
                .ok()
                .and_then(|o| self.labels.objects.get(o))
                .map(String::as_str);
            let event_tick = e.tick.to_string();
            let fields = [
                ("kind", Some(kind)),
                ("tick", Some(event_tick.as_str())),
                ("agent_id", agent.as_deref()),
                ("object", object),
            ];
            let field = |name: &str| fields.iter().find(|(k, _)| *k == name).and_then(|(_, v)| *v);
            out.extend(narrator.offer(kind, tick, field));
        }
        for event in extras.into_iter().flat_map(Extras::published) {
            let Some(kind) = extras::kind(event).filter(|k| narrator.narrates(k)) else {
                continue;
            };
            let fields = extras::fields(event);
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            out.extend(narrator.offer(kind, tick, field));
        }
        for (kind, fields) in &plan.narrate {
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            out.extend(narrator.offer(kind, tick, field));
        }
        out
    }

    fn event(&mut self, out: &mut String, e: &FrameEvent) {
        out.push_str("{\"kind\":");
        write_plain(out, event_name(e.kind));
        push_int(out, ",\"tick\":", e.tick);
        if e.uid != NO_UID {
            out.push_str(",\"agent_id\":");
            self.names.write(out, e.uid);
        }
        if let Some(object) = usize::try_from(e.object).ok().and_then(|o| self.labels.objects.get(o)) {
            out.push_str(",\"object\":");
            write_str(out, object);
        }
        out.push_str(",\"value\":");
        write_f64(out, event_value(e.value));
        out.push('}');
    }
}

/// Writes a narration event.
fn write_narration(out: &mut String, n: &Narration) {
    push_int_signed(out, "{\"kind\":\"narration\",\"tick\":", n.tick);
    out.push_str(",\"category\":");
    write_str(out, &n.category);
    out.push_str(",\"text\":");
    write_str(out, &n.text);
    out.push_str(",\"source\":");
    write_str(out, &n.source);
    if let Some(agent) = &n.agent_id {
        out.push_str(",\"agent_id\":");
        write_str(out, agent);
    }
    out.push('}');
}

/// An event value as published: rounded to 4 decimals, 0 when not finite.
fn event_value(v: f32) -> f64 {
    let v = f64::from(v);
    if v.is_finite() {
        (v * 1e4).round_ties_even() / 1e4
    } else {
        0.0
    }
}

fn event_name(kind: u8) -> &'static str {
    EVENT_KINDS.get(usize::from(kind)).copied().unwrap_or("unknown")
}

fn option_name(code: i64) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|c| OPTIONS.get(c))
        .copied()
        .unwrap_or("wait")
}

fn attendance_name(code: i64) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|c| ATTENDANCE_STATES.get(c))
        .copied()
        .unwrap_or("off_shift")
}

/// Writes a string known to need no escaping (built-in names).
fn write_plain(out: &mut String, s: &str) {
    out.push('"');
    out.push_str(s);
    out.push('"');
}

fn sep(out: &mut String) {
    if !out.is_empty() {
        out.push(',');
    }
}

fn push_int(out: &mut String, prefix: &str, v: u64) {
    out.push_str(prefix);
    write_int(out, i64::try_from(v).unwrap_or(i64::MAX));
}

fn push_int_signed(out: &mut String, prefix: &str, v: i64) {
    out.push_str(prefix);
    write_int(out, v);
}

#[cfg(test)]
mod tests;
