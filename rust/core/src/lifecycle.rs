//! Exit-trigger detection (SPEC §8), run inside the tick.
//!
//! The lifecycle's decisions (caps, cooldowns, suppression, who exits) are
//! made in Python, but checking every agent's counters against the trigger
//! thresholds is per-agent, per-tick work: it happens here, while the
//! counters are updated, and only agents with an armed trigger produce an
//! event (`EventKind::Trigger`, its value a bit set of [`TRIGGER_BITS`]).
//!
//! The narrow mutations the lifecycle and the console make on agents
//! (job, home, wallet, inventory, context reset, stream draws) live here too.

use crate::agents::LifeCounters;
use crate::error::{CoreError, CoreResult};
use crate::world::World;

/// Hunger collapsed for `collapse_ticks`.
pub const HUNGER_COLLAPSE: u32 = 1;
/// Rent unpaid for `eviction_days` days.
pub const EVICTION: u32 = 1 << 1;
/// No wage for `unemployment_days` days while holding a job.
pub const UNEMPLOYMENT: u32 = 1 << 2;
/// Some deficit above the neglect line for `neglect_ticks` ticks today.
pub const NEGLECT: u32 = 1 << 3;
/// Older than `age_ticks` (0: never).
pub const AGE_OUT: u32 = 1 << 4;
/// Within `near_window` ticks of a fatal hunger collapse.
pub const NEAR_COLLAPSE: u32 = 1 << 5;
/// Bit names, in bit order; part of the Python contract.
pub const TRIGGER_BITS: [&str; 6] = [
    "hunger_collapse",
    "eviction",
    "unemployment",
    "neglect",
    "age_out",
    "near_collapse",
];

/// Trigger thresholds (`lifecycle.*`, with days converted to ticks where needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleParams {
    pub collapse_ticks: u32,
    pub eviction_days: u16,
    pub unemployment_days: u16,
    pub neglect_ticks: u32,
    /// 0: no age-out.
    pub age_ticks: u32,
    /// Ticks before a fatal collapse that count as "near death".
    pub near_window: u32,
}

impl Default for LifecycleParams {
    fn default() -> LifecycleParams {
        LifecycleParams {
            collapse_ticks: 30,
            eviction_days: 2,
            unemployment_days: 2,
            neglect_ticks: 250,
            age_ticks: 0,
            near_window: 10,
        }
    }
}

impl LifecycleParams {
    /// Checks that every threshold is at least one.
    pub fn validate(&self) -> CoreResult<()> {
        if self.collapse_ticks == 0 || self.eviction_days == 0 || self.unemployment_days == 0 || self.neglect_ticks == 0
        {
            return Err(CoreError::InvalidArgument(format!(
                "lifecycle thresholds must be at least 1: {self:?}"
            )));
        }
        Ok(())
    }

    /// The armed triggers of one agent's counters (0: none).
    pub fn triggers(&self, c: &LifeCounters) -> u32 {
        let mut bits = 0;
        if c.collapse_ticks >= self.collapse_ticks {
            bits |= HUNGER_COLLAPSE;
        }
        if c.collapse_ticks > 0 && c.collapse_ticks + self.near_window >= self.collapse_ticks {
            bits |= NEAR_COLLAPSE;
        }
        if c.unpaid_rent_days >= self.eviction_days {
            bits |= EVICTION;
        }
        if c.days_without_wage >= self.unemployment_days {
            bits |= UNEMPLOYMENT;
        }
        if c.neglect_ticks >= self.neglect_ticks {
            bits |= NEGLECT;
        }
        if self.age_ticks > 0 && c.age_ticks >= self.age_ticks {
            bits |= AGE_OUT;
        }
        bits
    }
}

impl World {
    /// Replaces the exit-trigger thresholds (the console changes them live).
    pub fn set_lifecycle_params(&mut self, params: LifecycleParams) -> CoreResult<()> {
        params.validate()?;
        self.spec.lifecycle = params;
        Ok(())
    }

    /// Gives an agent a job (or none with -1); its attendance starts afresh.
    pub fn set_job(&mut self, slot: usize, job: i32) -> CoreResult<()> {
        self.agents.check(slot)?;
        if job < -1 || job >= self.spec.jobs.len() as i32 {
            return Err(CoreError::InvalidArgument(format!(
                "job {job} outside -1..{}",
                self.spec.jobs.len()
            )));
        }
        if self.agents.job[slot] != job {
            self.agents.job[slot] = job;
            self.attendance[slot] = crate::employment::Record::default();
            self.agents.counters[slot].days_without_wage = 0;
        }
        Ok(())
    }

    /// Flags an agent's context as reset (possession, release): its next
    /// observation says so and its commitment window ends.
    pub fn reset_context(&mut self, slot: usize) -> CoreResult<()> {
        self.agents.check(slot)?;
        self.agents.ctx_reset[slot] = true;
        self.agents.commit_ticks[slot] = 0;
        Ok(())
    }

    /// Sets an agent's money (finite; may be negative for debt).
    pub fn set_wallet(&mut self, slot: usize, value: f64) -> CoreResult<()> {
        self.agents.check(slot)?;
        if !value.is_finite() {
            return Err(CoreError::InvalidArgument(format!("wallet {value} must be finite")));
        }
        self.agents.wallet[slot] = value;
        Ok(())
    }

    /// Sets an agent's inventory (`food_raw`, meal, `clothes_clean`).
    pub fn set_inventory(&mut self, slot: usize, items: [u16; crate::agents::ITEMS]) -> CoreResult<()> {
        self.agents.check(slot)?;
        self.agents.inventory[slot] = items;
        Ok(())
    }

    /// Moves an agent into a home venue (or none with -1).
    pub fn set_home(&mut self, slot: usize, home: i32) -> CoreResult<()> {
        self.agents.check(slot)?;
        if home < -1 || home >= self.spec.venues.len() as i32 {
            return Err(CoreError::InvalidArgument(format!("home venue {home} unknown")));
        }
        self.agents.home[slot] = home;
        Ok(())
    }

    /// `n` uniform draws in [0, 1) from a stream: rare decisions made
    /// outside the core (spawns) keep every random state in the world.
    pub fn draw(&mut self, stream: crate::rng::Stream, n: usize) -> Vec<f64> {
        let rng = self.rng.get(stream);
        (0..n).map(|_| rng.next_f64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_arms_its_trigger() {
        let p = LifecycleParams::default();
        assert_eq!(p.triggers(&LifeCounters::default()), 0);
        let c = LifeCounters {
            collapse_ticks: 20,
            ..LifeCounters::default()
        };
        assert_eq!(p.triggers(&c), NEAR_COLLAPSE);
        let c = LifeCounters {
            collapse_ticks: 30,
            unpaid_rent_days: 2,
            days_without_wage: 2,
            neglect_ticks: 250,
            age_ticks: 5,
            satisfied_ticks: 0,
        };
        let all = HUNGER_COLLAPSE | NEAR_COLLAPSE | EVICTION | UNEMPLOYMENT | NEGLECT;
        assert_eq!(p.triggers(&c), all);
        let aged = LifecycleParams { age_ticks: 5, ..p };
        assert_eq!(aged.triggers(&c), all | AGE_OUT);
        assert!(LifecycleParams { collapse_ticks: 0, ..p }.validate().is_err());
        assert_eq!(TRIGGER_BITS.len(), 6);
    }
}
