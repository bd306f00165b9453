//! The feature vector: common features, social snippet, targets, queue
//! flags and the path hint, in the order [`super::ObsLayout`] names them.

use super::{slot_code, Variant, CODE_DIM};
use crate::economy::Utility;
use crate::employment::Attendance;
use crate::grid::{DIRECTIONS, UNREACHABLE};
use crate::tick::OPTIONS;
use crate::world::{Role, World};

/// Distance squashing: `d / (d + DIST_SCALE)`, 0 at the target, toward 1 far away.
pub(crate) const DIST_SCALE: f32 = 16.0;
/// Wallet squashing: `tanh(wallet / WALLET_SCALE)`.
const WALLET_SCALE: f64 = 10.0;
/// Inventory counts are divided by this and clipped to 1.
const INVENTORY_SCALE: f32 = 3.0;
/// Last action durations are divided by this and clipped to 1.
const DURATION_SCALE: f32 = 100.0;
/// Queue places are divided by this and clipped to 1.
const QUEUE_SCALE: f32 = 8.0;
/// A tie with rivalry above this makes its holder a rival in line.
const RIVAL_THRESHOLD: f32 = 0.25;

struct Cursor<'a> {
    out: &'a mut [f32],
    at: usize,
}

impl Cursor<'_> {
    #[inline]
    fn push(&mut self, v: f32) {
        self.out[self.at] = v;
        self.at += 1;
    }

    fn extend(&mut self, vs: &[f32]) {
        self.out[self.at..self.at + vs.len()].copy_from_slice(vs);
        self.at += vs.len();
    }
}

fn squash(d: u16) -> f32 {
    if d == UNREACHABLE {
        1.0
    } else {
        let d = f32::from(d);
        d / (d + DIST_SCALE)
    }
}

impl World {
    pub(crate) fn write_features(&self, s: usize, out: &mut [f32]) {
        let a = &self.agents;
        let params = &self.spec.observation;
        let mut c = Cursor { out, at: 0 };
        c.extend(&a.needs[s]);
        c.push((a.wallet[s] / WALLET_SCALE).tanh() as f32);
        let tpd = u64::from(self.spec.economy.ticks_per_day);
        let tod = self.tick % tpd;
        let angle = std::f64::consts::TAU * tod as f64 / tpd as f64;
        c.push(angle.sin() as f32);
        c.push(angle.cos() as f32);
        self.job_features(s, tod, &mut c);
        for k in 0..3 {
            // food_raw, meal, clothes_clean
            c.push((f32::from(a.inventory[s][k]) / INVENTORY_SCALE).min(1.0));
        }
        let plan_option = usize::from(self.plans[s].option);
        for i in 0..OPTIONS.len() {
            c.push(if i == plan_option { 1.0 } else { 0.0 });
        }
        let last = a.last_action[s];
        c.push(f32::from(last.id) / 2.0);
        c.push(if last.success { 1.0 } else { 0.0 });
        c.push((f32::from(last.duration) / DURATION_SCALE).min(1.0));
        c.push(if a.ctx_reset[s] { 1.0 } else { 0.0 });
        c.extend(&a.personality[s][..3]);
        c.push(if self.economy.utility_on(Utility::Power, self.tick) {
            1.0
        } else {
            0.0
        });
        c.push(if self.economy.utility_on(Utility::Water, self.tick) {
            1.0
        } else {
            0.0
        });
        c.push(f32::from(self.economy.weather() as u8) / 2.0);
        self.social(s, params.friends, params.rivals, &mut c);
        if params.variant != Variant::Full {
            for k in 0..super::TARGETS.len() {
                c.extend(&self.target_vector(s, k));
            }
        }
        if params.variant == Variant::Compact {
            self.queue_flags(s, &mut c);
            c.extend(&self.path_logits(s));
        }
        debug_assert_eq!(c.at, c.out.len(), "features written match the layout");
    }

    fn job_features(&self, s: usize, tod: u64, c: &mut Cursor<'_>) {
        let job = self.agents.job[s];
        if job < 0 {
            c.extend(&[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
            return;
        }
        let terms = self.spec.jobs[job as usize];
        let site = self.spec.job_sites[job as usize];
        let active = tod >= u64::from(terms.start_tick) && tod < u64::from(terms.end_tick);
        let here = self.grid.index(self.agents.x[s], self.agents.y[s]).expect("on grid");
        let v = self.venue_at[here];
        let at_work = v >= 0 && self.spec.venues[v as usize].kind == site;
        let record = &self.attendance[s];
        let on_shift = matches!(record.state, Attendance::OnTime | Attendance::Late);
        let pending = record.state == Attendance::Pending;
        let late = record.state == Attendance::Late || (pending && active);
        let lateness = if pending && active {
            let over = tod.saturating_sub(u64::from(terms.start_tick)) as f32;
            (over / self.spec.grace_ticks.max(1) as f32).min(1.0)
        } else {
            0.0
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        c.extend(&[
            1.0,
            flag(active),
            flag(at_work),
            flag(on_shift),
            flag(late),
            record.attendance_ratio() as f32,
            lateness,
        ]);
    }

    /// Top friends (by trust) and rivals (by rivalry): slot code + trust,
    /// familiarity, rivalry each; zeros where the agent has fewer ties.
    fn social(&self, s: usize, friends: usize, rivals: usize, c: &mut Cursor<'_>) {
        let ties = self.relations.ties(s);
        let mut pick = |n: usize, key: &dyn Fn(&crate::relations::Tie) -> f32| {
            let mut chosen: [Option<usize>; 6] = [None; 6];
            for k in 0..n {
                let best = ties
                    .iter()
                    .enumerate()
                    .filter(|(i, t)| key(t) > 0.0 && !chosen[..k].contains(&Some(*i)))
                    .max_by(|(i, a), (j, b)| key(a).total_cmp(&key(b)).then(j.cmp(i)));
                chosen[k] = best.map(|(i, _)| i);
            }
            for pick in chosen.iter().take(n) {
                match pick {
                    Some(i) => {
                        let t = &ties[*i];
                        let code = self
                            .agents
                            .slot_of(t.other)
                            .and_then(|o| self.slots.of(o))
                            .map_or([0.0; CODE_DIM], slot_code);
                        c.extend(&code);
                        c.extend(&[t.trust, t.familiarity, t.rivalry]);
                    }
                    None => c.extend(&[0.0; CODE_DIM + 3]),
                }
            }
        };
        pick(friends, &|t| t.trust);
        pick(rivals, &|t| t.rivalry);
    }

    /// `(dx, dy, distance)` toward target `k` of [`super::TARGETS`]: a unit
    /// step along the distance field (or the straight line home), and the
    /// squashed path distance; `(0, 0, 1)` when there is none.
    pub(crate) fn target_vector(&self, s: usize, k: usize) -> [f32; 3] {
        let none = [0.0, 0.0, 1.0];
        let field: Option<&[u16]> = match k {
            0..=2 => {
                let role = [Role::Shower, Role::Fridge, Role::Till][k];
                let t = self.spec.roles[role as usize];
                (t >= 0).then(|| self.type_fields[t as usize].as_slice())
            }
            4 => {
                let job = self.agents.job[s];
                (job >= 0)
                    .then(|| self.site_fields.get(usize::from(self.spec.job_sites[job as usize])))
                    .flatten()
                    .filter(|f| !f.is_empty())
                    .map(Vec::as_slice)
            }
            _ => None,
        };
        if k == 3 {
            let bed = self.home_object(s, Role::Bed);
            if bed < 0 {
                return none;
            }
            let o = &self.spec.objects[bed as usize];
            let (dx, dy) = ((o.x - self.agents.x[s]) as f32, (o.y - self.agents.y[s]) as f32);
            let len = (dx * dx + dy * dy).sqrt();
            if len == 0.0 {
                return [0.0, 0.0, 0.0];
            }
            let d = (dx.abs() + dy.abs()).min(f32::from(UNREACHABLE - 1));
            return [dx / len, dy / len, d / (d + DIST_SCALE)];
        }
        let Some(field) = field else { return none };
        let here = self.grid.index(self.agents.x[s], self.agents.y[s]).expect("on grid");
        let d = field[here];
        if d == UNREACHABLE {
            return none;
        }
        let step = self.downhill_from(here, field);
        let (dx, dy) = if step == 0 {
            (0, 0)
        } else {
            DIRECTIONS[usize::from(step - 1)]
        };
        [dx as f32, dy as f32, squash(d)]
    }

    /// One step downhill from tile `here` (N, E, S, W break ties); 0 if none is lower.
    pub(crate) fn downhill_from(&self, here: usize, field: &[u16]) -> u8 {
        let (x, y) = self.grid.coords(here);
        let mut best = (field[here], 0u8);
        for (d, (dx, dy)) in DIRECTIONS.iter().enumerate() {
            if let Some(t) = self.grid.index(x + dx, y + dy) {
                if field[t] < best.0 {
                    best = (field[t], d as u8 + 1);
                }
            }
        }
        best.1
    }

    fn queue_flags(&self, s: usize, c: &mut Cursor<'_>) {
        let me = s as u32;
        let target = self.plans[s].target;
        let (mut waiting, mut position, mut holding, mut rival) = (0.0, 0.0, 0.0, 0.0);
        if target >= 0 {
            let o = target as usize;
            if let Some(p) = self.queues.position(o, me) {
                waiting = 1.0;
                position = (p as f32 / QUEUE_SCALE).min(1.0);
            }
            if self.queues.holds(o, me) {
                holding = 1.0;
            }
            if waiting > 0.0 || holding > 0.0 {
                let rivals_here = self
                    .queues
                    .holders(o)
                    .chain(self.queues.waiting(o))
                    .filter(|&other| other != me)
                    .any(|other| {
                        let uid = self.agents.uid[other as usize];
                        self.relations.tie(s, uid).is_some_and(|t| t.rivalry > RIVAL_THRESHOLD)
                    });
                if rivals_here {
                    rival = 1.0;
                }
            }
        }
        let busy = if self.running[s].is_some() { 1.0 } else { 0.0 };
        c.extend(&[waiting, position, holding, busy, rival]);
    }

    /// N/E/S/W logits from a shallow planner: along the stored route, the
    /// next step is 1 and the others 0; along a distance field, each
    /// direction scores the drop in distance (1 downhill, 0 level, -1
    /// uphill or blocked). Zeros without a target or with path hints off.
    pub(crate) fn path_logits(&self, s: usize) -> [f32; 4] {
        let mut out = [0.0; 4];
        if !self.spec.observation.path_hints {
            return out;
        }
        let plan = &self.plans[s];
        if plan.target >= 0 {
            if let Some(&d) = plan.path.get(usize::from(plan.step)) {
                if (1..=4).contains(&d) {
                    out[usize::from(d - 1)] = 1.0;
                }
            }
            return out;
        }
        if plan.field < 0 {
            return out;
        }
        let field = self.plan_field(plan.field);
        let here = self.grid.index(self.agents.x[s], self.agents.y[s]).expect("on grid");
        let Some(&h) = field.get(here) else { return out };
        if h == UNREACHABLE {
            return out;
        }
        let (x, y) = (self.agents.x[s], self.agents.y[s]);
        for (d, (dx, dy)) in DIRECTIONS.iter().enumerate() {
            out[d] = match self.grid.index(x + dx, y + dy).map(|t| field[t]) {
                Some(v) if v != UNREACHABLE => (f32::from(h) - f32::from(v)).clamp(-1.0, 1.0),
                _ => -1.0,
            };
        }
        out
    }
}
