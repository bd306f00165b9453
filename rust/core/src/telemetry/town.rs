//! The town-wide sections the core publishes: `population`, `economy`,
//! `queues` and `embeddings`.
//!
//! The tick thread samples a [`Town`] from the world on the ticks that
//! carry town sections (a few integer copies); the encoder writes it whole
//! in a snapshot and, in a diff, as RFC 7386 merge patches of the members
//! that changed since the last published sample.

use std::borrow::Cow;

use super::json::{write_fixed, write_int, write_str};
use crate::economy::{Utility, ITEMS, N_ITEMS};
use crate::precondition::WEATHER;
use crate::world::World;

/// Names of the `queues` counters, in sample order.
pub const QUEUE_STATS: [&str; 6] = [
    "cooldowns",
    "timeouts",
    "abandoned",
    "conflicts",
    "ghost_steps",
    "blocked_moves",
];
/// Names of the `embeddings` counters, in sample order.
pub const EMBEDDING_STATS: [&str; 3] = ["assigned", "forced_reuses", "unassigned"];
/// Names of the utilities, in sample order.
pub const UTILITIES: [&str; 2] = ["power", "water"];
/// Prices are published to 0.0001.
pub const PRICE_DECIMALS: u32 = 4;

/// One sample of the core's town-wide published values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Town {
    pub population: u64,
    /// Prices in `ITEMS` order, in units of 0.0001.
    pub prices: [i64; N_ITEMS],
    /// Units in stock of each item, per stocked venue (in the order given to [`Town::sample`]).
    pub stock: Vec<[u32; N_ITEMS]>,
    /// Weather code (index into `WEATHER`).
    pub weather: u8,
    /// Power and water on.
    pub utilities: [bool; 2],
    pub queues: [u64; 6],
    pub embeddings: [u64; 3],
}

/// A [`Town`] as plain values, in field order.
pub type TownParts = (
    u64,
    [i64; N_ITEMS],
    Vec<[u32; N_ITEMS]>,
    u8,
    [bool; 2],
    [u64; 6],
    [u64; 3],
);

impl From<TownParts> for Town {
    fn from(parts: TownParts) -> Town {
        let (population, prices, stock, weather, utilities, queues, embeddings) = parts;
        Town {
            population,
            prices,
            stock,
            weather,
            utilities,
            queues,
            embeddings,
        }
    }
}

impl Town {
    /// This sample as plain values ([`Town::from`] reads them back).
    pub fn to_parts(&self) -> TownParts {
        (
            self.population,
            self.prices,
            self.stock.clone(),
            self.weather,
            self.utilities,
            self.queues,
            self.embeddings,
        )
    }

    /// The values of `world` now; stock is read at `venues` (venue indices).
    pub fn sample(world: &World, venues: &[usize]) -> Town {
        let economy = world.economy();
        let queues = world.queues().stats();
        let (ghost, blocked) = world.mover_stats();
        let slots = world.slot_stats();
        let tick = world.tick();
        Town {
            population: world.agents().slots().count() as u64,
            prices: std::array::from_fn(|i| super::quantise(economy.price(i), 10f64.powi(PRICE_DECIMALS as i32))),
            stock: venues
                .iter()
                .map(|&v| std::array::from_fn(|i| economy.stock(v, i)))
                .collect(),
            weather: economy.weather() as u8,
            utilities: [
                economy.utility_on(Utility::Power, tick),
                economy.utility_on(Utility::Water, tick),
            ],
            queues: [
                queues.cooldowns,
                queues.timeouts,
                queues.abandoned,
                queues.conflicts,
                ghost,
                blocked,
            ],
            embeddings: [slots.assigned, slots.forced, slots.exhausted],
        }
    }

    /// Appends `,"population":…,"economy":{…},"queues":{…},"embeddings":{…}`;
    /// `venues` names the stocked venues.
    pub fn write_full(&self, venues: &[String], out: &mut String) {
        out.push_str(",\"population\":");
        write_u64(out, self.population);
        out.push_str(",\"economy\":{\"prices\":{");
        for (i, &p) in self.prices.iter().enumerate() {
            member(out, i > 0, ITEMS[i]);
            write_fixed(out, p, PRICE_DECIMALS);
        }
        out.push_str("},\"stock\":{");
        for (v, counts) in self.stock.iter().enumerate() {
            member(out, v > 0, &venue_name(venues, v));
            out.push('{');
            let mut first = true;
            for (i, &n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
                member(out, !first, ITEMS[i]);
                write_u64(out, u64::from(n));
                first = false;
            }
            out.push('}');
        }
        out.push_str("},\"weather\":");
        write_str(out, weather_name(self.weather));
        out.push_str(",\"utilities\":{");
        for (i, &on) in self.utilities.iter().enumerate() {
            member(out, i > 0, UTILITIES[i]);
            out.push_str(if on { "true" } else { "false" });
        }
        out.push_str("}}");
        write_counters(out, "queues", &QUEUE_STATS, &self.queues, None);
        write_counters(out, "embeddings", &EMBEDDING_STATS, &self.embeddings, None);
    }

    /// Appends, for each section that differs from `old`, its merge patch
    /// (`,"economy":{…}`): changed members only, `null` for an item that
    /// went out of stock. Nothing when the two are equal.
    pub fn write_patch(&self, old: &Town, venues: &[String], out: &mut String) {
        if self.population != old.population {
            out.push_str(",\"population\":");
            write_u64(out, self.population);
        }
        let mut economy = String::new();
        self.economy_patch(old, venues, &mut economy);
        if !economy.is_empty() {
            out.push_str(",\"economy\":{");
            out.push_str(&economy);
            out.push('}');
        }
        if self.queues != old.queues {
            write_counters(out, "queues", &QUEUE_STATS, &self.queues, Some(&old.queues));
        }
        if self.embeddings != old.embeddings {
            write_counters(
                out,
                "embeddings",
                &EMBEDDING_STATS,
                &self.embeddings,
                Some(&old.embeddings),
            );
        }
    }

    /// The members of the `economy` patch, without braces.
    fn economy_patch(&self, old: &Town, venues: &[String], out: &mut String) {
        if self.prices != old.prices {
            member(out, false, "prices");
            out.push('{');
            let mut first = true;
            for (i, (&p, &q)) in self.prices.iter().zip(&old.prices).enumerate() {
                if p != q {
                    member(out, !first, ITEMS[i]);
                    write_fixed(out, p, PRICE_DECIMALS);
                    first = false;
                }
            }
            out.push('}');
        }
        if self.stock != old.stock {
            member(out, !out.is_empty(), "stock");
            out.push('{');
            let mut first_venue = true;
            for (v, counts) in self.stock.iter().enumerate() {
                let before = old.stock.get(v);
                if before == Some(counts) {
                    continue;
                }
                member(out, !first_venue, &venue_name(venues, v));
                first_venue = false;
                out.push('{');
                let mut first = true;
                for (i, &n) in counts.iter().enumerate() {
                    let was = before.map_or(0, |b| b[i]);
                    if n == was {
                        continue;
                    }
                    member(out, !first, ITEMS[i]);
                    first = false;
                    if n > 0 {
                        write_u64(out, u64::from(n));
                    } else {
                        out.push_str("null");
                    }
                }
                out.push('}');
            }
            for v in self.stock.len()..old.stock.len() {
                member(out, !first_venue, &venue_name(venues, v));
                first_venue = false;
                out.push_str("null");
            }
            out.push('}');
        }
        if self.weather != old.weather {
            member(out, !out.is_empty(), "weather");
            write_str(out, weather_name(self.weather));
        }
        if self.utilities != old.utilities {
            member(out, !out.is_empty(), "utilities");
            out.push('{');
            let mut first = true;
            for (i, (&on, &was)) in self.utilities.iter().zip(&old.utilities).enumerate() {
                if on != was {
                    member(out, !first, UTILITIES[i]);
                    out.push_str(if on { "true" } else { "false" });
                    first = false;
                }
            }
            out.push('}');
        }
    }
}

/// Appends `"name":` (after a comma when `comma`).
fn member(out: &mut String, comma: bool, name: &str) {
    if comma {
        out.push(',');
    }
    write_str(out, name);
    out.push(':');
}

fn write_u64(out: &mut String, v: u64) {
    write_int(out, i64::try_from(v).unwrap_or(i64::MAX));
}

/// `,"section":{"name":n,...}`: every counter, or those that differ from `old`.
fn write_counters(out: &mut String, section: &str, names: &[&str], values: &[u64], old: Option<&[u64]>) {
    out.push(',');
    member(out, false, section);
    out.push('{');
    let mut first = true;
    for (i, &v) in values.iter().enumerate() {
        if old.is_some_and(|o| o.get(i) == Some(&v)) {
            continue;
        }
        member(out, !first, names[i]);
        write_u64(out, v);
        first = false;
    }
    out.push('}');
}

/// The id of stocked venue `v` (`venue_<v>` when none was given, so keys stay distinct).
fn venue_name(venues: &[String], v: usize) -> Cow<'_, str> {
    venues
        .get(v)
        .map_or_else(|| Cow::Owned(format!("venue_{v}")), |s| Cow::Borrowed(s.as_str()))
}

fn weather_name(code: u8) -> &'static str {
    WEATHER.get(usize::from(code)).copied().unwrap_or("sunny")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn venues() -> Vec<String> {
        vec!["grocer_1".into(), "cafe \"2\"".into()]
    }

    /// `{...}` around members written with a leading comma.
    fn object(members: &str) -> Map<String, Value> {
        let text = format!("{{{}}}", members.strip_prefix(',').unwrap_or(members));
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => map,
            other => panic!("not an object: {text} ({other:?})"),
        }
    }

    fn full(t: &Town) -> Map<String, Value> {
        let mut out = String::new();
        t.write_full(&venues(), &mut out);
        object(&out)
    }

    /// RFC 7386.
    fn merge(target: &mut Value, patch: &Value) {
        let Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        let map = target.as_object_mut().expect("an object");
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }

    fn town() -> impl Strategy<Value = Town> {
        (
            0u64..100,
            prop::array::uniform4(0i64..60_000),
            prop::collection::vec(prop::array::uniform4(0u32..3), 2),
            0u8..3,
            prop::array::uniform2(any::<bool>()),
            prop::array::uniform6(0u64..4),
            prop::array::uniform3(0u64..4),
        )
            .prop_map(Town::from)
    }

    #[test]
    fn full_sections_read_as_the_published_objects() {
        let t = Town {
            population: 3,
            prices: [25_000, 10_500, 0, 12_345],
            stock: vec![[2, 0, 0, 1], [0, 0, 0, 0]],
            weather: 1,
            utilities: [true, false],
            queues: [1, 2, 3, 4, 5, 6],
            embeddings: [7, 8, 9],
        };
        let json = Value::Object(full(&t));
        let expected = serde_json::json!({
            "population": 3,
            "economy": {
                "prices": {"meal": 2.5, "food_raw": 1.05, "shower": 0.0, "clothes_clean": 1.2345},
                "stock": {"grocer_1": {"meal": 2, "clothes_clean": 1}, "cafe \"2\"": {}},
                "weather": "rainy",
                "utilities": {"power": true, "water": false},
            },
            "queues": {"cooldowns": 1, "timeouts": 2, "abandoned": 3, "conflicts": 4, "ghost_steps": 5, "blocked_moves": 6},
            "embeddings": {"assigned": 7, "forced_reuses": 8, "unassigned": 9},
        });
        assert_eq!(json, expected);
        let mut patch = String::new();
        t.write_patch(&t, &venues(), &mut patch);
        assert!(patch.is_empty(), "no change, no patch: {patch}");
        let mut unnamed = String::new();
        t.write_full(&[], &mut unnamed);
        let stock = &object(&unnamed)["economy"]["stock"];
        assert_eq!(
            stock,
            &serde_json::json!({"venue_0": {"meal": 2, "clothes_clean": 1}, "venue_1": {}})
        );
    }

    proptest! {
        #[test]
        fn a_patch_takes_the_old_sections_to_the_new(old in town(), new in town()) {
            let mut patch = String::new();
            new.write_patch(&old, &venues(), &mut patch);
            let mut state = Value::Object(full(&old));
            merge(&mut state, &Value::Object(object(&patch)));
            prop_assert_eq!(state, Value::Object(full(&new)));
        }
    }
}
