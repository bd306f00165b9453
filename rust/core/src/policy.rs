//! The scripted meta-policy and the option commitment window (SPEC §3).
//!
//! [`World::scripted_options`] proposes one option per agent from need
//! thresholds and the job clock; any other policy may propose instead.
//! Whoever proposes, [`World::commit_options`] (run at the start of every
//! tick) decides what each agent actually does: an agent keeps its option
//! for `commit_ticks` ticks unless a need falls below the hard threshold,
//! its context was reset, or the option closed; a masked option becomes
//! `wait`. Running affordances are never interrupted by a new option. The
//! town-wide KPI tally is kept here too.

use crate::agents::NEEDS;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};
use crate::tick::OPTIONS;
use crate::world::{Role, World};

/// Option codes (see [`OPTIONS`]).
pub const WAIT: u8 = 0;
pub const GET_FED: u8 = 1;
pub const GET_CLEAN: u8 = 2;
pub const GO_TO_WORK: u8 = 3;
pub const SHOP_GROCERIES: u8 = 4;
pub const SLEEP: u8 = 5;
pub const SOCIALISE: u8 = 6;

/// The option that serves each need (hunger, hygiene, energy).
const NEED_OPTIONS: [u8; NEEDS] = [GET_FED, GET_CLEAN, SLEEP];
/// Every need above this is "self-sufficient" (SPEC §14).
pub const SELF_SUFFICIENT: f32 = 0.3;
/// Margin above the self-sufficiency line a need must keep through a
/// shift or a night.
const TOP_UP_MARGIN: f32 = 0.05;
/// Fewest ticks a night must end before leaving for work.
const SLEEP_SLACK: u32 = 30;
/// Workers go to bed when the time left before leaving for work is between
/// a night's sleep and this much more.
const BEDTIME_WINDOW: u32 = 200;
/// How far above every threshold needs must be for an outing to the park.
const COMFORT_MARGIN: f32 = 0.2;
/// Energy at or above which a worker skips bedtime.
const RESTED: f32 = 0.9;

/// Thresholds and timings of the scripted policy (`behavior.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyParams {
    /// Seek to restore a need below this (hunger, hygiene, energy).
    pub thresholds: [f32; NEEDS],
    /// A need below this overrides work and the commitment window.
    pub hard: f32,
    /// Ticks before the shift start to leave for work.
    pub arrival_buffer: u32,
    /// Ticks an agent keeps a newly chosen option.
    pub commit_ticks: u16,
    /// Shop for groceries when food items (raw + meals) fall below this.
    pub groceries_below: u16,
    /// Once shopping, keep buying until food items reach this.
    pub groceries_target: u16,
    /// Ticks before leaving for work in which needs that would not last
    /// the shift are topped up.
    pub prep_ticks: u32,
}

impl Default for PolicyParams {
    fn default() -> PolicyParams {
        PolicyParams {
            thresholds: [0.5, 0.4, 0.35],
            hard: 0.15,
            arrival_buffer: 40,
            commit_ticks: 15,
            groceries_below: 1,
            groceries_target: 3,
            prep_ticks: 80,
        }
    }
}

impl PolicyParams {
    /// Checks ranges (thresholds in [0, 1], hard not above any threshold).
    pub fn validate(&self) -> CoreResult<()> {
        let ok = |v: f32| (0.0..=1.0).contains(&v);
        if !self.thresholds.iter().all(|&t| ok(t)) || !ok(self.hard) {
            return Err(CoreError::InvalidArgument(format!(
                "policy thresholds {:?} and hard {} must lie in [0, 1]",
                self.thresholds, self.hard
            )));
        }
        if self.thresholds.iter().any(|&t| self.hard > t) {
            return Err(CoreError::InvalidArgument(format!(
                "hard threshold {} exceeds a need threshold {:?}",
                self.hard, self.thresholds
            )));
        }
        Ok(())
    }
}

/// Town-wide running totals for KPIs, serialised with the world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Live agent-ticks simulated.
    pub agent_ticks: u64,
    /// Agent-ticks with every need above [`SELF_SUFFICIENT`].
    pub satisfied: u64,
    /// Times an agent's committed option changed.
    pub switches: u64,
    /// Shifts clocked into.
    pub clock_ins: u64,
    /// Of which late.
    pub late_clock_ins: u64,
    /// Ticks late, summed over late clock-ins.
    pub late_ticks: u64,
    /// Shifts missed.
    pub absences: u64,
    /// Hunger collapses begun (starvation incidents).
    pub starvation_onsets: u64,
}

impl Tally {
    /// Serialises the totals.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.agent_ticks);
        w.u64(self.satisfied);
        w.u64(self.switches);
        w.u64(self.clock_ins);
        w.u64(self.late_clock_ins);
        w.u64(self.late_ticks);
        w.u64(self.absences);
        w.u64(self.starvation_onsets);
    }

    /// Restores totals written by [`Tally::encode`].
    pub fn decode(r: &mut Reader<'_>) -> CoreResult<Tally> {
        Ok(Tally {
            agent_ticks: r.u64()?,
            satisfied: r.u64()?,
            switches: r.u64()?,
            clock_ins: r.u64()?,
            late_clock_ins: r.u64()?,
            late_ticks: r.u64()?,
            absences: r.u64()?,
            starvation_onsets: r.u64()?,
        })
    }
}

/// Where an agent stands against its job's clock today.
#[derive(Debug, Clone, Copy)]
struct ShiftClock {
    /// Between leaving for work and the shift end.
    in_window: bool,
    /// Ticks until it should leave (0 while in the window).
    until_leave: u32,
    /// Ticks from now until the shift ends.
    until_end: u32,
}

impl World {
    /// The job clock of `s`: it leaves `travel + arrival_buffer` ticks before
    /// the shift start, `travel` being its walking distance to the site now.
    fn shift_clock(&self, s: usize, tod: u32) -> Option<ShiftClock> {
        let job = self.agents.job[s];
        if job < 0 {
            return None;
        }
        let tpd = self.spec.economy.ticks_per_day;
        let terms = &self.spec.jobs[job as usize];
        let kind = usize::from(self.spec.job_sites[job as usize]);
        let travel = self
            .site_fields
            .get(kind)
            .and_then(|f| f.get(self.here(s)).copied())
            .filter(|&d| d != crate::grid::UNREACHABLE)
            .map_or(0, u32::from);
        let lead = (travel + self.spec.policy.arrival_buffer).min(tpd - 1);
        let leave = (terms.start_tick + tpd - lead) % tpd;
        let length = lead + (terms.end_tick - terms.start_tick);
        let since_leave = (tod + tpd - leave) % tpd;
        let in_window = length >= tpd || since_leave < length;
        Some(ShiftClock {
            in_window,
            until_leave: if in_window { 0 } else { (leave + tpd - tod) % tpd },
            until_end: (terms.end_tick + tpd - tod) % tpd,
        })
    }

    /// Longest affordance on the objects serving `role` (0 when none).
    fn role_duration(&self, role: Role) -> u32 {
        let t = self.spec.roles[role as usize];
        if t < 0 {
            return 0;
        }
        self.manifest
            .for_type(t as u16)
            .iter()
            .filter_map(|&id| self.manifest.get(id))
            .map(|d| d.duration)
            .max()
            .unwrap_or(0)
    }

    /// Before something long (a shift, a night's sleep) that ends in
    /// `ticks`: the option for hunger or hygiene if it would fall below the
    /// self-sufficiency line by then.
    fn top_up(&self, s: usize, ticks: u32, mask: [bool; OPTIONS.len()]) -> Option<u8> {
        let needs = self.agents.needs[s];
        (0..2).find_map(|i| {
            let projected = needs[i] - self.spec.decay[i] * ticks as f32;
            let option = NEED_OPTIONS[i];
            (projected < SELF_SUFFICIENT + TOP_UP_MARGIN && mask[usize::from(option)]).then_some(option)
        })
    }

    fn scripted_one(&self, s: usize, tod: u32, mask: [bool; OPTIONS.len()], sleep_ticks: u32) -> u8 {
        let p = &self.spec.policy;
        let needs = self.agents.needs[s];
        let open = |o: u8| mask[usize::from(o)];
        // 1. A hard need overrides everything.
        let hard = (0..NEEDS)
            .filter(|&i| needs[i] < p.hard && open(NEED_OPTIONS[i]))
            .min_by(|&a, &b| needs[a].total_cmp(&needs[b]));
        if let Some(i) = hard {
            return NEED_OPTIONS[i];
        }
        // 2. Work, from leaving time to the shift end.
        let clock = self.shift_clock(s, tod);
        if let Some(c) = clock {
            if c.in_window && open(GO_TO_WORK) {
                return GO_TO_WORK;
            }
            // 3. Before leaving: top up what would not last the shift.
            if c.until_leave <= p.prep_ticks {
                if let Some(o) = self.top_up(s, c.until_end, mask) {
                    return o;
                }
            }
        }
        let until_leave = clock.map_or(u32::MAX, |c| c.until_leave);
        // A night fits when it ends with time to get ready for work; a tired
        // agent settles for ending it in time to leave, and one that would
        // not stay awake through the next shift sleeps even if that makes it
        // late.
        let fits = until_leave >= sleep_ticks + p.prep_ticks.max(SLEEP_SLACK);
        let fits_tired = until_leave >= sleep_ticks + SLEEP_SLACK;
        let exhausted = clock.is_some_and(|c| needs[2] - self.spec.decay[2] * (c.until_end as f32) < p.hard);
        // 4. Bedtime: the workers' night ends shortly before they get ready.
        let bedtime = clock.is_some() && fits && until_leave <= sleep_ticks + p.prep_ticks + BEDTIME_WINDOW;
        let tired = needs[2] < p.thresholds[2];
        if open(SLEEP) && ((bedtime && needs[2] < RESTED) || (tired && (fits_tired || exhausted))) {
            return self.top_up(s, sleep_ticks, mask).unwrap_or(SLEEP);
        }
        // 5. The most pressing need below its threshold.
        let soft = (0..2)
            .filter(|&i| needs[i] < p.thresholds[i] && open(NEED_OPTIONS[i]))
            .min_by(|&a, &b| (needs[a] / p.thresholds[a].max(1e-6)).total_cmp(&(needs[b] / p.thresholds[b].max(1e-6))));
        if let Some(i) = soft {
            return NEED_OPTIONS[i];
        }
        // 6. Groceries for the home stove: below `groceries_below` go
        //    shopping, and once there buy up to `groceries_target`.
        let [raw, meal, _] = self.agents.inventory[s];
        let food = raw + meal;
        let shopping = self.agents.option[s] == SHOP_GROCERIES;
        let wanted = if shopping {
            p.groceries_target.max(p.groceries_below)
        } else {
            p.groceries_below
        };
        if food < wanted && open(SHOP_GROCERIES) && self.home_has(s, Role::Stove) {
            return SHOP_GROCERIES;
        }
        // 7. Idle: extroverts socialise when comfortable (every need well
        //    above its threshold, work far off), the others wait.
        let comfortable =
            (0..NEEDS).all(|i| needs[i] >= p.thresholds[i] + COMFORT_MARGIN) && until_leave > 2 * p.prep_ticks;
        if comfortable && open(SOCIALISE) && self.agents.personality[s][0] > 0.0 {
            SOCIALISE
        } else {
            WAIT
        }
    }

    /// Writes the scripted policy's option for every slot into `out`
    /// (length = capacity; free slots get `wait`).
    pub fn scripted_options(&self, out: &mut [u8]) -> CoreResult<()> {
        let n = self.agents.capacity();
        if out.len() != n {
            return Err(CoreError::Shape {
                what: "options".into(),
                expected: n.to_string(),
                got: out.len().to_string(),
            });
        }
        let tod = (self.tick % u64::from(self.spec.economy.ticks_per_day)) as u32;
        let sleep_ticks = self.role_duration(Role::Bed);
        let mut mask = [false; OPTIONS.len()];
        for (s, o) in out.iter_mut().enumerate() {
            *o = if self.agents.alive[s] {
                self.option_mask(s, &mut mask);
                self.scripted_one(s, tod, mask, sleep_ticks)
            } else {
                WAIT
            };
        }
        Ok(())
    }

    /// Applies the commitment window and the option masks to proposed
    /// options, in place; records each agent's committed option.
    pub(crate) fn commit_options(&mut self, options: &mut [u8]) {
        let hard = self.spec.policy.hard;
        let window = self.spec.policy.commit_ticks;
        for (s, proposed) in options.iter_mut().enumerate() {
            if !self.agents.alive[s] {
                *proposed = WAIT;
                continue;
            }
            let current = self.agents.option[s];
            if self.running[s].is_some() {
                // Busy: the running affordance finishes first.
                *proposed = current;
                continue;
            }
            if *proposed == current && self.option_open(s, current) {
                self.agents.commit_ticks[s] = self.agents.commit_ticks[s].saturating_sub(1);
                continue;
            }
            let urgent = self.agents.needs[s].iter().any(|&v| v < hard);
            let committed = self.agents.commit_ticks[s] > 0 && !self.agents.ctx_reset[s];
            if *proposed != current && committed && !urgent && self.option_open(s, current) {
                self.agents.commit_ticks[s] -= 1;
                *proposed = current;
                continue;
            }
            if !self.option_open(s, *proposed) {
                *proposed = WAIT;
            }
            if *proposed != current {
                self.tally.switches += 1;
                self.agents.option[s] = *proposed;
                self.agents.commit_ticks[s] = if *proposed == WAIT { 0 } else { window };
            }
        }
    }

    /// Town-wide KPI totals.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The option each agent is committed to (as of the last tick).
    pub fn committed_options(&self) -> &[u8] {
        &self.agents.option
    }

    /// The sums the KPIs of the day in progress need, over the live agents
    /// in slot order: wages earned since `baseline` (what each had earned
    /// when the day started), agents with a job, and ages in ticks. One
    /// pass, no copies: telemetry samples these every few in-game hours.
    /// Fails unless `baseline` holds one value per live agent.
    pub fn day_totals(&self, baseline: &[f64]) -> CoreResult<DayTotals> {
        let mut totals = DayTotals::default();
        let mut live = 0;
        for slot in self.agents.slots() {
            if let Some(&before) = baseline.get(live) {
                let earned = self.attendance(slot).map_or(0.0, |r| r.wages_earned);
                totals.wages += earned - before;
                totals.employed += usize::from(self.agents.job[slot] >= 0);
                totals.age_ticks += u64::from(self.agents.counters[slot].age_ticks);
            }
            live += 1;
        }
        if live != baseline.len() {
            return Err(CoreError::InvalidArgument(format!(
                "baseline holds {} values for {live} live agents",
                baseline.len()
            )));
        }
        Ok(totals)
    }
}

/// What [`World::day_totals`] sums over the live agents.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayTotals {
    /// Wages earned since the baseline.
    pub wages: f64,
    /// Agents with a job.
    pub employed: usize,
    /// Ages in ticks.
    pub age_ticks: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewards::N_COMPONENTS;
    use crate::world::tests::{agent, spec};

    fn step(w: &mut World, options: &[u8]) {
        let n = w.agents().capacity();
        let (mut rewards, mut totals, mut events) = (vec![0.0; n * N_COMPONENTS], vec![0.0; n], Vec::new());
        w.step(options, &mut rewards, &mut totals, &mut events).unwrap();
    }

    #[test]
    fn hungry_agents_choose_food_and_hard_needs_win() {
        let mut w = World::new(spec()).unwrap();
        let mut a = agent(2, 2);
        a.needs = [0.3, 0.9, 0.9];
        a.inventory = [0, 1, 0];
        w.spawn(&a).unwrap();
        let mut out = [9u8];
        w.scripted_options(&mut out).unwrap();
        assert_eq!(out[0], GET_FED);
        w.set_need(0, 2, 0.05).unwrap();
        w.scripted_options(&mut out).unwrap();
        assert_eq!(out[0], SLEEP, "hard energy need beats a soft hunger");
        assert!(w.scripted_options(&mut [0, 0]).is_err());
    }

    #[test]
    fn commitment_holds_an_option_unless_a_need_is_hard() {
        let mut w = World::new(spec()).unwrap();
        let mut a = agent(2, 2);
        a.inventory = [0, 3, 0];
        w.spawn(&a).unwrap();
        step(&mut w, &[SLEEP]);
        assert_eq!(w.committed_options()[0], SLEEP);
        step(&mut w, &[GET_FED]);
        assert_eq!(w.committed_options()[0], SLEEP, "within the window");
        let switches = w.tally().switches;
        w.set_need(0, 0, 0.05).unwrap();
        step(&mut w, &[GET_FED]);
        assert_eq!(w.committed_options()[0], GET_FED, "a hard need breaks the window");
        assert_eq!(w.tally().switches, switches + 1);
    }

    #[test]
    fn masked_options_become_wait() {
        let mut w = World::new(spec()).unwrap();
        let mut a = agent(2, 2);
        a.job = -1;
        w.spawn(&a).unwrap();
        step(&mut w, &[GO_TO_WORK]);
        assert_eq!(w.committed_options()[0], WAIT);
    }

    #[test]
    fn day_totals_sum_the_live_agents_against_their_baseline() {
        let mut w = World::new(spec()).unwrap();
        let mut idle = agent(2, 2);
        idle.job = -1;
        for a in [agent(2, 2), idle.clone(), agent(3, 2)] {
            w.spawn(&a).unwrap();
        }
        step(&mut w, &[WAIT, WAIT, WAIT]);
        step(&mut w, &[WAIT, WAIT, WAIT]);
        w.remove(0).unwrap();
        let t = w.day_totals(&[1.0, 2.5]).unwrap();
        let earned: f64 = [1, 2].iter().map(|&s| w.attendance(s).unwrap().wages_earned).sum();
        assert_eq!(t.employed, 1, "the agent without a job is not counted");
        assert!(
            (t.wages - (earned - 3.5)).abs() < 1e-12,
            "{} vs {}",
            t.wages,
            earned - 3.5
        );
        let ages: u64 = [1, 2]
            .iter()
            .map(|&s| u64::from(w.agents().counters[s].age_ticks))
            .sum();
        assert_eq!(t.age_ticks, ages);
        assert!(ages > 0);
        assert!(w.day_totals(&[1.0]).is_err());
        assert!(w.day_totals(&[1.0, 2.0, 3.0]).is_err());
    }

    #[test]
    fn tally_counts_satisfied_agent_ticks() {
        let mut w = World::new(spec()).unwrap();
        w.spawn(&agent(2, 2)).unwrap();
        let mut low = agent(3, 2);
        low.needs = [0.1, 0.9, 0.9];
        w.spawn(&low).unwrap();
        step(&mut w, &[WAIT, WAIT]);
        let t = w.tally();
        assert_eq!((t.agent_ticks, t.satisfied), (2, 1));
        assert_eq!(w.agents().counters[0].satisfied_ticks, 1);
        assert_eq!(w.agents().counters[1].satisfied_ticks, 0);
    }

    #[test]
    fn workers_leave_by_their_walk_and_sleep_before_work() {
        let mut w = World::new(spec()).unwrap();
        let (slot, _) = w.spawn(&agent(2, 2)).unwrap();
        // The job runs 300..600; the test town has no desk, so the walk
        // counts 0 and the agent leaves `arrival_buffer` (40) ticks early.
        let c = w.shift_clock(slot, 250).unwrap();
        assert!(!c.in_window && c.until_leave == 10, "{c:?}");
        let c = w.shift_clock(slot, 290).unwrap();
        assert!(c.in_window && c.until_end == 310, "{c:?}");
        let c = w.shift_clock(slot, 700).unwrap();
        assert!(!c.in_window && c.until_leave == 560, "wraps to tomorrow: {c:?}");
        // Well rested at bedtime: no sleep; tired and the night fits: sleep.
        let mask = [true; OPTIONS.len()];
        w.set_need(slot, 0, 0.9).unwrap();
        w.set_need(slot, 1, 0.9).unwrap();
        w.set_need(slot, 2, 0.95).unwrap();
        assert_ne!(w.scripted_one(slot, 900, mask, 250), SLEEP);
        w.set_need(slot, 2, 0.5).unwrap();
        assert_eq!(w.scripted_one(slot, 900, mask, 250), SLEEP, "bedtime");
        // Hungry at bedtime: eat first (the night would take hunger below 0.3).
        w.set_need(slot, 0, 0.5).unwrap();
        assert_eq!(w.scripted_one(slot, 900, mask, 250), GET_FED);
        // In the work window, work wins over soft needs.
        assert_eq!(w.scripted_one(slot, 400, mask, 250), GO_TO_WORK);
    }

    #[test]
    fn event_kind_names_follow_the_codes() {
        use crate::tick::{EventKind, EVENT_KINDS};
        assert_eq!(EVENT_KINDS[EventKind::AffordanceStart as usize], "affordance_start");
        assert_eq!(EVENT_KINDS[EventKind::RewardClipped as usize], "reward_clipped");
        assert_eq!(EVENT_KINDS[EventKind::Trigger as usize], "trigger");
        assert_eq!(EVENT_KINDS.len(), EventKind::Trigger as usize + 1);
    }

    #[test]
    fn params_are_checked() {
        let mut p = PolicyParams::default();
        assert!(p.validate().is_ok());
        p.hard = 0.9;
        assert!(p.validate().is_err());
    }
}
