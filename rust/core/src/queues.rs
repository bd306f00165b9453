//! Reservations and queues at objects (SPEC §4).
//!
//! An agent using an object holds one of its reservations (capacity per
//! object type). Others wait in a FIFO queue of bounded length. Requests
//! made in the same tick are admitted in order of a tie-break key: patience
//! (when the trait is on) or a jitter draw from the world stream, plus a
//! small queue-age priority. Reservations release on success, failure,
//! timeout (no progress) or the holder's removal: none can get stuck.
//! Cutters (asking to reserve past waiting agents) and blockers (holders
//! that time out) get a cooldown at that object.

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};
use crate::rng::Rng;

/// Fairness parameters (`queue_fairness.*`, `behavior.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueParams {
    pub cooldown_ticks: u64,
    pub reservation_timeout_ticks: u64,
    pub queue_timeout_ticks: u64,
    pub age_priority_weight: f64,
    pub patience_jitter: f64,
    pub use_patience: bool,
}

impl Default for QueueParams {
    fn default() -> QueueParams {
        QueueParams {
            cooldown_ticks: 60,
            reservation_timeout_ticks: 60,
            queue_timeout_ticks: 300,
            age_priority_weight: 0.1,
            patience_jitter: 0.1,
            use_patience: false,
        }
    }
}

/// The answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The agent holds a reservation now.
    Reserved,
    /// The agent waits at this queue position (0 = next).
    Queued(u16),
    /// Refused: the agent is cooling down at this object.
    Cooldown,
    /// Refused: the queue is full.
    QueueFull,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Hold {
    slot: u32,
    last_progress: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Waiter {
    slot: u32,
    joined: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct ObjectQueue {
    capacity: u8,
    limit: u16,
    holds: Vec<Hold>,
    waiting: Vec<Waiter>,
}

/// Counters for telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub cooldowns: u64,
    pub timeouts: u64,
    pub abandoned: u64,
    pub conflicts: u64,
}

/// A request made this tick, resolved in [`Queues::resolve`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    object: u32,
    slot: u32,
    patience: f64,
}

/// All objects' reservations and queues.
///
/// Equality compares the observable state (holds, queues, cooldowns,
/// pending requests, counters), not the bookkeeping indexes.
#[derive(Debug, Clone)]
pub struct Queues {
    params: QueueParams,
    objects: Vec<ObjectQueue>,
    /// Per agent slot: (object, cooldown until tick).
    cooldowns: Vec<Vec<(u32, u64)>>,
    pending: Vec<Pending>,
    /// Per agent slot: object + 1 of its latest pending request (0: none),
    /// so a repeated request is dropped without scanning `pending`.
    requested: Vec<u32>,
    /// Objects that may have holds or waiters (a superset, pruned by
    /// [`Queues::expire`]); `listed[o]` says whether `o` is in it. Keeps
    /// the per-tick expiry pass O(busy objects), not O(objects).
    active: Vec<u32>,
    listed: Vec<bool>,
    /// Scratch for [`Queues::resolve`] (empty between ticks).
    keyed: Vec<(f64, Pending)>,
    stats: QueueStats,
}

impl PartialEq for Queues {
    fn eq(&self, other: &Queues) -> bool {
        self.params == other.params
            && self.objects == other.objects
            && self.cooldowns == other.cooldowns
            && self.pending == other.pending
            && self.stats == other.stats
    }
}

impl Queues {
    /// Marks `object` as possibly busy (it just got a hold or a waiter).
    fn activate(&mut self, object: usize) {
        if !self.listed[object] {
            self.listed[object] = true;
            self.active.push(object as u32);
        }
    }

    /// Queues for objects with the given `(capacity, queue limit)`.
    pub fn new(params: QueueParams, objects: &[(u8, u16)]) -> CoreResult<Queues> {
        if objects.iter().any(|&(c, _)| c == 0) {
            return Err(CoreError::InvalidArgument("object capacity must be at least 1".into()));
        }
        Ok(Queues {
            params,
            objects: objects
                .iter()
                .map(|&(capacity, limit)| ObjectQueue {
                    capacity,
                    limit,
                    holds: Vec::new(),
                    waiting: Vec::new(),
                })
                .collect(),
            cooldowns: Vec::new(),
            pending: Vec::new(),
            requested: Vec::new(),
            active: Vec::new(),
            listed: vec![false; objects.len()],
            keyed: Vec::new(),
            stats: QueueStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    fn object(&self, object: usize) -> CoreResult<&ObjectQueue> {
        self.objects
            .get(object)
            .ok_or_else(|| CoreError::InvalidArgument(format!("object {object} outside 0..{}", self.objects.len())))
    }

    /// Slots holding a reservation on `object`.
    pub fn holders(&self, object: usize) -> impl Iterator<Item = u32> + '_ {
        self.objects
            .get(object)
            .into_iter()
            .flat_map(|o| o.holds.iter().map(|h| h.slot))
    }

    /// Slots waiting at `object`, next first.
    pub fn waiting(&self, object: usize) -> impl Iterator<Item = u32> + '_ {
        self.objects
            .get(object)
            .into_iter()
            .flat_map(|o| o.waiting.iter().map(|w| w.slot))
    }

    /// `slot`'s place in `object`'s line (0 = next), if it waits there.
    pub fn position(&self, object: usize, slot: u32) -> Option<usize> {
        self.objects.get(object)?.waiting.iter().position(|w| w.slot == slot)
    }

    /// Whether every reservation of `object` is taken.
    pub fn occupied(&self, object: usize) -> bool {
        self.objects
            .get(object)
            .is_some_and(|o| o.holds.len() >= usize::from(o.capacity))
    }

    /// Whether `slot` holds `object`.
    pub fn holds(&self, object: usize, slot: u32) -> bool {
        self.holders(object).any(|s| s == slot)
    }

    /// Whether `slot` is cooling down at `object` at `tick`.
    pub fn cooling(&self, slot: u32, object: u32, tick: u64) -> bool {
        self.cooldowns
            .get(slot as usize)
            .is_some_and(|c| c.iter().any(|&(o, until)| o == object && tick < until))
    }

    fn add_cooldown(&mut self, slot: u32, object: u32, tick: u64) {
        let s = slot as usize;
        if s >= self.cooldowns.len() {
            self.cooldowns.resize_with(s + 1, Vec::new);
        }
        let list = &mut self.cooldowns[s];
        list.retain(|&(o, until)| o != object && until > tick);
        list.push((object, tick + self.params.cooldown_ticks));
        self.stats.cooldowns += 1;
    }

    /// Asks for `object` on behalf of `slot` this tick; resolved by [`Queues::resolve`].
    /// `patience` is the agent's trait in [-1, 1] (used when patience is on).
    pub fn request(&mut self, object: usize, slot: u32, patience: f64) -> CoreResult<()> {
        self.object(object)?;
        let s = slot as usize;
        if s >= self.requested.len() {
            self.requested.resize(s + 1, 0);
        }
        let mark = object as u32 + 1;
        let last = self.requested[s];
        // The mark answers the common cases in O(1); only an agent that asked
        // for several objects this tick needs the scan.
        let repeated = last == mark
            || (last != 0
                && self
                    .pending
                    .iter()
                    .any(|p| p.object as usize == object && p.slot == slot));
        if !repeated {
            self.requested[s] = mark;
            self.pending.push(Pending {
                object: object as u32,
                slot,
                patience,
            });
        }
        Ok(())
    }

    /// Admits this tick's requests: holders keep theirs, the head of the queue
    /// is served first, same-tick arrivals are ordered by the tie-break key.
    /// Returns `(object, slot, grant)` in admission order.
    pub fn resolve(&mut self, tick: u64, world_rng: &mut Rng, out: &mut Vec<(u32, u32, Grant)>) {
        out.clear();
        let mut pending = std::mem::take(&mut self.pending);
        let mut keyed = std::mem::take(&mut self.keyed);
        // Tie-break key per request: patience or jitter, plus queue age.
        for p in pending.drain(..) {
            self.requested[p.slot as usize] = 0;
            let jitter = if self.params.use_patience {
                p.patience
            } else {
                (world_rng.next_f64() * 2.0 - 1.0) * self.params.patience_jitter
            };
            let age = self.objects[p.object as usize]
                .waiting
                .iter()
                .find(|w| w.slot == p.slot)
                .map_or(0.0, |w| (tick - w.joined) as f64);
            keyed.push((jitter + self.params.age_priority_weight * age, p));
        }
        keyed.sort_by(|a, b| {
            a.1.object
                .cmp(&b.1.object)
                .then(b.0.total_cmp(&a.0))
                .then(a.1.slot.cmp(&b.1.slot))
        });
        for &(_, p) in &keyed {
            let grant = self.admit(p.object, p.slot, tick);
            out.push((p.object, p.slot, grant));
        }
        keyed.clear();
        self.keyed = keyed;
        self.pending = pending;
    }

    fn admit(&mut self, object: u32, slot: u32, tick: u64) -> Grant {
        let o = object as usize;
        if self.objects[o].holds.iter().any(|h| h.slot == slot) {
            return Grant::Reserved;
        }
        if self.cooling(slot, object, tick) {
            return Grant::Cooldown;
        }
        let queue = &self.objects[o];
        let position = queue.waiting.iter().position(|w| w.slot == slot);
        let free = queue.holds.len() < usize::from(queue.capacity);
        match position {
            Some(0) if free => {
                self.activate(o);
                let q = &mut self.objects[o];
                q.waiting.remove(0);
                q.holds.push(Hold {
                    slot,
                    last_progress: tick,
                });
                Grant::Reserved
            }
            Some(i) => Grant::Queued(i as u16),
            None if free && queue.waiting.is_empty() => {
                self.activate(o);
                self.objects[o].holds.push(Hold {
                    slot,
                    last_progress: tick,
                });
                Grant::Reserved
            }
            None => {
                if free {
                    // A free reservation but others are waiting: this request
                    // would cut the line. It joins the back and cools down.
                    self.stats.conflicts += 1;
                    self.add_cooldown(slot, object, tick);
                }
                let q = &mut self.objects[o];
                if q.waiting.len() >= usize::from(q.limit) {
                    return Grant::QueueFull;
                }
                q.waiting.push(Waiter { slot, joined: tick });
                let position = (q.waiting.len() - 1) as u16;
                self.activate(o);
                Grant::Queued(position)
            }
        }
    }

    /// Records progress by a holder (resets its timeout).
    pub fn progress(&mut self, object: usize, slot: u32, tick: u64) {
        if let Some(h) = self
            .objects
            .get_mut(object)
            .and_then(|o| o.holds.iter_mut().find(|h| h.slot == slot))
        {
            h.last_progress = tick;
        }
    }

    /// Ends `slot`'s reservation on `object`; returns whether it held one.
    pub fn release(&mut self, object: usize, slot: u32) -> bool {
        let Some(o) = self.objects.get_mut(object) else {
            return false;
        };
        let before = o.holds.len();
        o.holds.retain(|h| h.slot != slot);
        before != o.holds.len()
    }

    /// Leaves the queue at `object` (gave up or changed plans).
    pub fn leave(&mut self, object: usize, slot: u32) {
        if let Some(o) = self.objects.get_mut(object) {
            o.waiting.retain(|w| w.slot != slot);
        }
    }

    /// Releases timed-out holders (blockers get a cooldown) and drops waiters
    /// that waited too long. Appends `(object, slot)` of timed-out holders to `out`.
    pub fn expire(&mut self, tick: u64, out: &mut Vec<(u32, u32)>) {
        out.clear();
        let (hold_limit, wait_limit) = (self.params.reservation_timeout_ticks, self.params.queue_timeout_ticks);
        // Ascending object order, as a scan over every object would give.
        self.active.sort_unstable();
        let mut active = std::mem::take(&mut self.active);
        let mut abandoned = 0;
        active.retain(|&i| {
            let o = &mut self.objects[i as usize];
            o.holds.retain(|h| {
                let stale = tick.saturating_sub(h.last_progress) >= hold_limit;
                if stale {
                    out.push((i, h.slot));
                }
                !stale
            });
            let before = o.waiting.len();
            o.waiting.retain(|w| tick.saturating_sub(w.joined) < wait_limit);
            abandoned += (before - o.waiting.len()) as u64;
            let busy = !o.holds.is_empty() || !o.waiting.is_empty();
            self.listed[i as usize] = busy;
            busy
        });
        self.active = active;
        self.stats.abandoned += abandoned;
        for &(object, slot) in out.iter() {
            self.stats.timeouts += 1;
            self.add_cooldown(slot, object, tick);
        }
    }

    /// Drops every hold, wait, pending request and cooldown of `slot` (agent removed).
    pub fn forget(&mut self, slot: u32) {
        for o in &mut self.objects {
            o.holds.retain(|h| h.slot != slot);
            o.waiting.retain(|w| w.slot != slot);
        }
        self.pending.retain(|p| p.slot != slot);
        if let Some(r) = self.requested.get_mut(slot as usize) {
            *r = 0;
        }
        if let Some(c) = self.cooldowns.get_mut(slot as usize) {
            c.clear();
        }
    }

    /// Serialises holds, queues, cooldowns and counters.
    pub fn encode(&self, w: &mut Writer) {
        w.len(self.objects.len());
        for o in &self.objects {
            w.u8(o.capacity);
            w.u16(o.limit);
            w.len(o.holds.len());
            for h in &o.holds {
                w.u32(h.slot);
                w.u64(h.last_progress);
            }
            w.len(o.waiting.len());
            for x in &o.waiting {
                w.u32(x.slot);
                w.u64(x.joined);
            }
        }
        w.len(self.cooldowns.len());
        for c in &self.cooldowns {
            w.len(c.len());
            for &(o, until) in c {
                w.u32(o);
                w.u64(until);
            }
        }
        for v in [
            self.stats.cooldowns,
            self.stats.timeouts,
            self.stats.abandoned,
            self.stats.conflicts,
        ] {
            w.u64(v);
        }
    }

    /// Restores queues written by [`Queues::encode`].
    pub fn decode(params: QueueParams, r: &mut Reader<'_>) -> CoreResult<Queues> {
        let n = r.len(10_000_000)?;
        let mut objects = Vec::with_capacity(n);
        for _ in 0..n {
            let capacity = r.u8()?;
            let limit = r.u16()?;
            let holds = (0..r.len(256)?)
                .map(|_| {
                    Ok(Hold {
                        slot: r.u32()?,
                        last_progress: r.u64()?,
                    })
                })
                .collect::<CoreResult<Vec<_>>>()?;
            let waiting = (0..r.len(65_536)?)
                .map(|_| {
                    Ok(Waiter {
                        slot: r.u32()?,
                        joined: r.u64()?,
                    })
                })
                .collect::<CoreResult<Vec<_>>>()?;
            objects.push(ObjectQueue {
                capacity,
                limit,
                holds,
                waiting,
            });
        }
        let m = r.len(10_000_000)?;
        let mut cooldowns = Vec::with_capacity(m);
        for _ in 0..m {
            cooldowns.push(
                (0..r.len(1_000_000)?)
                    .map(|_| Ok((r.u32()?, r.u64()?)))
                    .collect::<CoreResult<Vec<_>>>()?,
            );
        }
        let stats = QueueStats {
            cooldowns: r.u64()?,
            timeouts: r.u64()?,
            abandoned: r.u64()?,
            conflicts: r.u64()?,
        };
        let listed: Vec<bool> = objects
            .iter()
            .map(|o| !o.holds.is_empty() || !o.waiting.is_empty())
            .collect();
        let active = (0..objects.len() as u32).filter(|&o| listed[o as usize]).collect();
        Ok(Queues {
            params,
            objects,
            cooldowns,
            pending: Vec::new(),
            requested: Vec::new(),
            active,
            listed,
            keyed: Vec::new(),
            stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    fn resolve(q: &mut Queues, tick: u64, rng: &mut Rng) -> Vec<(u32, u32, Grant)> {
        let mut out = Vec::new();
        q.resolve(tick, rng, &mut out);
        out
    }

    #[test]
    fn fifo_and_release() {
        let mut q = Queues::new(QueueParams::default(), &[(1, 3)]).unwrap();
        let mut rng = Rng::from_seed(1);
        q.request(0, 5, 0.0).unwrap();
        assert_eq!(resolve(&mut q, 0, &mut rng), vec![(0, 5, Grant::Reserved)]);
        q.request(0, 6, 0.0).unwrap();
        q.request(0, 7, 0.0).unwrap();
        let g = resolve(&mut q, 1, &mut rng);
        assert!(g.iter().all(|&(_, _, grant)| matches!(grant, Grant::Queued(_))));
        assert!(q.occupied(0));
        assert!(q.release(0, 5));
        let head = q.waiting(0).next().unwrap();
        q.request(0, head, 0.0).unwrap();
        assert_eq!(resolve(&mut q, 2, &mut rng), vec![(0, head, Grant::Reserved)]);
        assert!(q.holds(0, head));
        assert!(q.request(3, 1, 0.0).is_err());
    }

    #[test]
    fn patience_orders_same_tick_arrivals() {
        let params = QueueParams {
            use_patience: true,
            ..QueueParams::default()
        };
        let mut q = Queues::new(params, &[(1, 5)]).unwrap();
        let mut rng = Rng::from_seed(2);
        q.request(0, 1, -0.5).unwrap();
        q.request(0, 2, 0.9).unwrap();
        q.request(0, 3, 0.1).unwrap();
        let g = resolve(&mut q, 0, &mut rng);
        assert_eq!(g[0], (0, 2, Grant::Reserved));
        assert_eq!(q.waiting(0).collect::<Vec<_>>(), vec![3, 1]);
    }

    #[test]
    fn cutter_gets_cooldown_and_blocker_times_out() {
        let mut q = Queues::new(QueueParams::default(), &[(1, 5)]).unwrap();
        let mut rng = Rng::from_seed(3);
        q.request(0, 1, 0.0).unwrap();
        resolve(&mut q, 0, &mut rng);
        q.request(0, 2, 0.0).unwrap();
        resolve(&mut q, 1, &mut rng);
        q.release(0, 1);
        // Agent 9 tries to take the free reservation past waiting agent 2.
        q.request(0, 9, 0.0).unwrap();
        let g = resolve(&mut q, 2, &mut rng);
        assert_eq!(g, vec![(0, 9, Grant::Queued(1))]);
        assert!(q.cooling(9, 0, 2) && !q.cooling(9, 0, 62));
        assert_eq!(q.stats().conflicts, 1);
        // Agent 2 reserves and then holds without progress: a blocker.
        q.request(0, 2, 0.0).unwrap();
        resolve(&mut q, 3, &mut rng);
        let mut timed_out = Vec::new();
        q.expire(62, &mut timed_out);
        assert!(timed_out.is_empty());
        q.expire(63, &mut timed_out);
        assert_eq!(timed_out, vec![(0, 2)]);
        assert!(!q.holds(0, 2) && q.cooling(2, 0, 63));
    }

    #[test]
    fn nobody_waits_forever_at_a_contended_shower() {
        // 8 agents want one shower; each use takes 5 ticks; everyone keeps asking.
        let mut q = Queues::new(QueueParams::default(), &[(1, 16)]).unwrap();
        let mut rng = Rng::from_seed(4);
        let mut served = [0u32; 8];
        let mut using: Option<(u32, u64)> = None;
        let mut out = Vec::new();
        for tick in 0..400u64 {
            if let Some((s, started)) = using {
                if tick - started >= 5 {
                    q.release(0, s);
                    served[s as usize] += 1;
                    using = None;
                } else {
                    q.progress(0, s, tick);
                }
            }
            for s in 0..8 {
                if using.map(|(u, _)| u) != Some(s) {
                    q.request(0, s, 0.0).unwrap();
                }
            }
            q.resolve(tick, &mut rng, &mut out);
            for &(_, s, g) in &out {
                if g == Grant::Reserved && using.is_none() {
                    using = Some((s, tick));
                }
            }
        }
        assert!(served.iter().all(|&n| n >= 5), "{served:?}");
        let spread = served.iter().max().unwrap() - served.iter().min().unwrap();
        assert!(spread <= 1, "FIFO keeps service even: {served:?}");
    }

    proptest! {
        #[test]
        fn no_reservation_outlives_its_holder_or_timeout(ops in proptest::collection::vec((0u8..5, 0u32..6, 0usize..3), 1..300)) {
            let params = QueueParams { reservation_timeout_ticks: 10, queue_timeout_ticks: 40, ..QueueParams::default() };
            let mut q = Queues::new(params, &[(1, 3), (2, 2), (1, 0)]).unwrap();
            let mut rng = Rng::from_seed(7);
            let mut alive = [true; 6];
            let mut out = Vec::new();
            let mut expired = Vec::new();
            for (tick, (kind, slot, object)) in ops.into_iter().enumerate() {
                let tick = tick as u64;
                match kind {
                    0 | 1 if alive[slot as usize] => q.request(object, slot, 0.0).unwrap(),
                    2 => { q.release(object, slot); }
                    3 => { q.forget(slot); alive[slot as usize] = false; }
                    4 => { alive[slot as usize] = true; }
                    _ => {}
                }
                q.resolve(tick, &mut rng, &mut out);
                q.expire(tick, &mut expired);
                for o in 0..3 {
                    let holders: Vec<u32> = q.holders(o).collect();
                    let cap = [1, 2, 1][o];
                    prop_assert!(holders.len() <= cap);
                    for &h in &holders {
                        prop_assert!(alive[h as usize], "dead agent {} holds object {}", h, o);
                        prop_assert!(!q.waiting(o).any(|w| w == h));
                    }
                    for h in &q.objects[o].holds {
                        prop_assert!(tick - h.last_progress < 10);
                    }
                    prop_assert!(q.waiting(o).count() <= [3, 2, 0][o]);
                    // The busy-object list never misses a busy object.
                    let busy = holders.len() + q.waiting(o).count() > 0;
                    prop_assert!(!busy || (q.listed[o] && q.active.contains(&(o as u32))));
                }
            }
            let mut w = Writer::new();
            q.encode(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            let back = Queues::decode(params, &mut r).unwrap();
            r.finish().unwrap();
            prop_assert_eq!(&back.objects, &q.objects);
            prop_assert_eq!(back.stats, q.stats);
            prop_assert!(back == q);
        }
    }
}
