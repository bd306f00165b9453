//! Prices, stock, restock, rent timing, weather and utilities (SPEC §1).
//!
//! Random weather draws and utility faults use the *events* RNG stream only,
//! so they never perturb movement or policy randomness.

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, CoreResult};
use crate::rng::Rng;

/// Economy items in price order: meal, `food_raw`, shower, `clothes_clean`.
pub const ITEMS: [&str; 4] = ["meal", "food_raw", "shower", "clothes_clean"];
/// Number of priced items.
pub const N_ITEMS: usize = ITEMS.len();

/// Weather; codes match the precondition fact `weather`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weather {
    #[default]
    Sunny = 0,
    Rainy = 1,
    Cold = 2,
}

impl Weather {
    /// Decodes a weather code.
    pub fn from_code(code: u8) -> CoreResult<Weather> {
        match code {
            0 => Ok(Weather::Sunny),
            1 => Ok(Weather::Rainy),
            2 => Ok(Weather::Cold),
            c => Err(CoreError::InvalidArgument(format!(
                "unknown weather code {c} (0 sunny, 1 rainy, 2 cold)"
            ))),
        }
    }
}

/// Random faults of one utility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultParams {
    pub faults_per_day: f64,
    pub duration_ticks: u32,
}

/// Economy parameters from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct EconomyParams {
    pub ticks_per_day: u32,
    pub base_prices: [f64; N_ITEMS],
    pub initial_stock: [u32; N_ITEMS],
    pub restock_per_day: [u32; N_ITEMS],
    pub restock_tick: u32,
    pub rent_per_day: f64,
    pub rent_tick: u32,
    pub weather_odds: [f64; 3],
    pub weather_every: u32,
    pub weather_multipliers: [f64; 3],
    pub power: FaultParams,
    pub water: FaultParams,
}

impl Default for EconomyParams {
    /// The config's defaults (`townlet.config.economy`): a 1,000-tick day,
    /// rent 2.0 and a meal at 1.0.
    fn default() -> EconomyParams {
        EconomyParams {
            ticks_per_day: 1000,
            base_prices: [1.0, 0.45, 0.3, 0.2],
            initial_stock: [60, 60, 0, 0],
            restock_per_day: [60, 60, 0, 0],
            restock_tick: 0,
            rent_per_day: 2.0,
            rent_tick: 0,
            weather_odds: [0.6, 0.3, 0.1],
            weather_every: 250,
            weather_multipliers: [1.0, 1.05, 1.1],
            power: FaultParams {
                faults_per_day: 0.05,
                duration_ticks: 60,
            },
            water: FaultParams {
                faults_per_day: 0.05,
                duration_ticks: 60,
            },
        }
    }
}

impl EconomyParams {
    /// Validates ranges (positive prices, day-relative ticks, odds summing to 1).
    pub fn validate(&self) -> CoreResult<()> {
        let bad = |m: String| Err(CoreError::InvalidArgument(m));
        if self.ticks_per_day == 0 || self.restock_tick >= self.ticks_per_day || self.rent_tick >= self.ticks_per_day {
            return bad("restock_tick and rent_tick must lie within the day".into());
        }
        if self.base_prices.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
            return bad(format!("prices {:?} must be positive", self.base_prices));
        }
        let odds: f64 = self.weather_odds.iter().sum();
        if self.weather_odds.iter().any(|p| *p < 0.0) || (odds - 1.0).abs() > 1e-6 || self.weather_every == 0 {
            return bad("weather odds must be non-negative and sum to 1; weather_every > 0".into());
        }
        if !(self.rent_per_day.is_finite() && self.rent_per_day >= 0.0) {
            return bad("rent_per_day must be finite and non-negative".into());
        }
        Ok(())
    }
}

/// Which utility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utility {
    Power = 0,
    Water = 1,
}

/// State of one utility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct UtilityState {
    /// Forced off by an operator or a perturbation.
    forced_off: bool,
    /// A random fault lasts until this tick (exclusive); 0 = none.
    fault_until: u64,
}

/// What changed this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EconomyEvents {
    pub restocked: bool,
    pub rent_due: bool,
    pub weather_changed: bool,
    pub power_fault_started: bool,
    pub water_fault_started: bool,
}

/// The town's economy.
#[derive(Debug, Clone, PartialEq)]
pub struct Economy {
    params: EconomyParams,
    price_override: [f64; N_ITEMS],
    price_multiplier: [f64; N_ITEMS],
    stock: Vec<[u32; N_ITEMS]>,
    closed: Vec<bool>,
    weather: Weather,
    utilities: [UtilityState; 2],
}

impl Economy {
    /// An economy with `venues` stocked venues.
    pub fn new(params: EconomyParams, venues: usize) -> CoreResult<Economy> {
        params.validate()?;
        Ok(Economy {
            stock: vec![params.initial_stock; venues],
            closed: vec![false; venues],
            price_override: [0.0; N_ITEMS],
            price_multiplier: [1.0; N_ITEMS],
            weather: Weather::Sunny,
            utilities: [UtilityState::default(); 2],
            params,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &EconomyParams {
        &self.params
    }

    fn check_item(item: usize) -> CoreResult<()> {
        if item < N_ITEMS {
            Ok(())
        } else {
            Err(CoreError::InvalidArgument(format!(
                "item {item} outside 0..{N_ITEMS} ({})",
                ITEMS.join(", ")
            )))
        }
    }

    fn check_venue(&self, venue: usize) -> CoreResult<()> {
        if venue < self.stock.len() {
            Ok(())
        } else {
            Err(CoreError::InvalidArgument(format!(
                "venue {venue} outside 0..{}",
                self.stock.len()
            )))
        }
    }

    /// Current price of `item`: base (or operator override) x weather x perturbation multiplier.
    pub fn price(&self, item: usize) -> f64 {
        let base = if self.price_override[item] > 0.0 {
            self.price_override[item]
        } else {
            self.params.base_prices[item]
        };
        base * self.params.weather_multipliers[self.weather as usize] * self.price_multiplier[item]
    }

    /// Sets (or with `None` clears) an operator price override.
    pub fn set_price(&mut self, item: usize, price: Option<f64>) -> CoreResult<()> {
        Self::check_item(item)?;
        match price {
            Some(p) if !(p.is_finite() && p > 0.0 && p <= 1000.0) => {
                Err(CoreError::InvalidArgument(format!("price {p} outside (0, 1000]")))
            }
            Some(p) => {
                self.price_override[item] = p;
                Ok(())
            }
            None => {
                self.price_override[item] = 0.0;
                Ok(())
            }
        }
    }

    /// Sets a perturbation multiplier (price spike) on `item`.
    pub fn set_multiplier(&mut self, item: usize, factor: f64) -> CoreResult<()> {
        Self::check_item(item)?;
        if !(factor.is_finite() && (0.1..=100.0).contains(&factor)) {
            return Err(CoreError::InvalidArgument(format!(
                "multiplier {factor} outside [0.1, 100]"
            )));
        }
        self.price_multiplier[item] = factor;
        Ok(())
    }

    /// The perturbation multiplier on `item` (1.0 when none).
    pub fn multiplier(&self, item: usize) -> f64 {
        self.price_multiplier.get(item).copied().unwrap_or(1.0)
    }

    /// Units of `item` in stock at `venue`.
    pub fn stock(&self, venue: usize, item: usize) -> u32 {
        self.stock.get(venue).map_or(0, |s| s[item])
    }

    /// Takes one unit; false when out of stock or closed.
    pub fn consume(&mut self, venue: usize, item: usize) -> bool {
        if self.closed.get(venue).copied().unwrap_or(true) {
            return false;
        }
        let s = &mut self.stock[venue][item];
        if *s == 0 {
            return false;
        }
        *s -= 1;
        true
    }

    /// Whether `venue` is open.
    pub fn venue_open(&self, venue: usize) -> bool {
        !self.closed.get(venue).copied().unwrap_or(true)
    }

    /// Opens or closes a venue (temporary closure).
    pub fn set_closed(&mut self, venue: usize, closed: bool) -> CoreResult<()> {
        self.check_venue(venue)?;
        self.closed[venue] = closed;
        Ok(())
    }

    /// Current weather.
    pub fn weather(&self) -> Weather {
        self.weather
    }

    /// Forces the weather (console `rain start|stop`).
    pub fn set_weather(&mut self, weather: Weather) {
        self.weather = weather;
    }

    /// Whether a utility is up at `tick`.
    pub fn utility_on(&self, u: Utility, tick: u64) -> bool {
        let s = self.utilities[u as usize];
        !s.forced_off && tick >= s.fault_until
    }

    /// Forces a utility off (blackout, outage) or releases the force.
    pub fn set_forced_off(&mut self, u: Utility, off: bool) {
        self.utilities[u as usize].forced_off = off;
    }

    /// Advances to `tick` (call once per tick, in order).
    pub fn tick(&mut self, tick: u64, events_rng: &mut Rng) -> EconomyEvents {
        let p = &self.params;
        let tod = (tick % u64::from(p.ticks_per_day)) as u32;
        let mut ev = EconomyEvents::default();
        if tod == p.restock_tick && tick > 0 {
            for s in &mut self.stock {
                for ((unit, &add), &initial) in s.iter_mut().zip(&p.restock_per_day).zip(&p.initial_stock) {
                    // Restock, capped at twice the larger of the opening stock and a day's delivery.
                    *unit = unit.saturating_add(add).min(initial.max(add) * 2);
                }
            }
            ev.restocked = true;
        }
        ev.rent_due = tod == p.rent_tick && tick > 0;
        if tick % u64::from(p.weather_every) == 0 {
            let draw = events_rng.next_f64();
            let mut acc = 0.0;
            let mut next = Weather::Cold;
            for (i, w) in [Weather::Sunny, Weather::Rainy, Weather::Cold].into_iter().enumerate() {
                acc += p.weather_odds[i];
                if draw < acc {
                    next = w;
                    break;
                }
            }
            ev.weather_changed = next != self.weather;
            self.weather = next;
        }
        let day = f64::from(p.ticks_per_day);
        for (u, fp) in [(Utility::Power, p.power), (Utility::Water, p.water)] {
            let hit = events_rng.chance(fp.faults_per_day / day);
            let st = &mut self.utilities[u as usize];
            if hit && tick >= st.fault_until {
                st.fault_until = tick + u64::from(fp.duration_ticks.max(1));
                match u {
                    Utility::Power => ev.power_fault_started = true,
                    Utility::Water => ev.water_fault_started = true,
                }
            }
        }
        ev
    }

    /// Serialises the mutable state (parameters come from the config).
    pub fn encode(&self, w: &mut Writer) {
        for &v in self.price_override.iter().chain(&self.price_multiplier) {
            w.f64(v);
        }
        w.len(self.stock.len());
        for (s, &c) in self.stock.iter().zip(&self.closed) {
            for &v in s {
                w.u32(v);
            }
            w.bool(c);
        }
        w.u8(self.weather as u8);
        for u in &self.utilities {
            w.bool(u.forced_off);
            w.u64(u.fault_until);
        }
    }

    /// Restores state written by [`Economy::encode`] onto fresh parameters.
    pub fn decode(params: EconomyParams, r: &mut Reader<'_>) -> CoreResult<Economy> {
        let mut e = Economy::new(params, 0)?;
        for v in &mut e.price_override {
            *v = r.f64()?;
        }
        for v in &mut e.price_multiplier {
            *v = r.f64()?;
        }
        let n = r.len(10_000_000)?;
        for _ in 0..n {
            e.stock.push([r.u32()?, r.u32()?, r.u32()?, r.u32()?]);
            e.closed.push(r.bool()?);
        }
        e.weather = Weather::from_code(r.u8()?)?;
        for u in &mut e.utilities {
            u.forced_off = r.bool()?;
            u.fault_until = r.u64()?;
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> EconomyParams {
        EconomyParams {
            initial_stock: [5, 5, 0, 0],
            restock_per_day: [3, 3, 0, 0],
            power: FaultParams {
                faults_per_day: 2.0,
                duration_ticks: 60,
            },
            water: FaultParams {
                faults_per_day: 0.0,
                duration_ticks: 60,
            },
            ..EconomyParams::default()
        }
    }

    #[test]
    fn prices_follow_override_weather_and_spikes() {
        let mut e = Economy::new(params(), 1).unwrap();
        assert!((e.price(0) - 1.0).abs() < 1e-12);
        e.set_weather(Weather::Cold);
        assert!((e.price(0) - 1.1).abs() < 1e-12);
        e.set_multiplier(0, 2.0).unwrap();
        e.set_price(0, Some(3.0)).unwrap();
        assert!((e.price(0) - 6.6).abs() < 1e-9);
        e.set_price(0, None).unwrap();
        assert!((e.price(0) - 2.2).abs() < 1e-9);
        assert!(e.set_price(9, Some(1.0)).is_err());
        assert!(e.set_price(0, Some(-1.0)).is_err());
        assert!(e.set_multiplier(0, f64::NAN).is_err());
    }

    #[test]
    fn stock_restock_and_closure() {
        let mut e = Economy::new(params(), 2).unwrap();
        let mut rng = Rng::from_seed(1);
        for _ in 0..5 {
            assert!(e.consume(1, 0));
        }
        assert!(!e.consume(1, 0), "sold out");
        let ev = e.tick(1000, &mut rng);
        assert!(ev.restocked && ev.rent_due);
        assert_eq!(e.stock(1, 0), 3);
        e.set_closed(1, true).unwrap();
        assert!(!e.consume(1, 0) && !e.venue_open(1));
        assert!(!e.consume(7, 0), "unknown venue sells nothing");
        assert!(e.set_closed(7, true).is_err());
    }

    #[test]
    fn faults_come_from_the_events_stream_and_end() {
        let mut e = Economy::new(params(), 1).unwrap();
        let mut rng = Rng::from_seed(3);
        let mut started = None;
        for t in 1..20_000u64 {
            if e.tick(t, &mut rng).power_fault_started {
                started = Some(t);
                break;
            }
        }
        let t = started.expect("two faults a day start within 20 days");
        assert!(!e.utility_on(Utility::Power, t));
        assert!(e.utility_on(Utility::Power, t + 60));
        assert!(e.utility_on(Utility::Water, t), "water never faults at rate 0");
        e.set_forced_off(Utility::Water, true);
        assert!(!e.utility_on(Utility::Water, t + 1000));
        // Same seed, same history.
        let mut a = Economy::new(params(), 1).unwrap();
        let mut b = Economy::new(params(), 1).unwrap();
        let (mut ra, mut rb) = (Rng::from_seed(9), Rng::from_seed(9));
        for t in 0..5000 {
            assert_eq!(a.tick(t, &mut ra), b.tick(t, &mut rb));
        }
        let mut w = Writer::new();
        a.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(Economy::decode(params(), &mut r).unwrap(), a);
        r.finish().unwrap();
    }

    #[test]
    fn rejects_bad_params() {
        let mut p = params();
        p.weather_odds = [0.5, 0.1, 0.1];
        assert!(Economy::new(p, 1).is_err());
        let mut p = params();
        p.rent_tick = 1000;
        assert!(Economy::new(p, 1).is_err());
        assert!(Weather::from_code(3).is_err());
    }
}
