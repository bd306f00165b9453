//! Action masks: which options and primitives make sense for an agent now.

use crate::economy::Utility;
use crate::grid::DIRECTIONS;
use crate::world::{Role, World};

/// Primitive actions, in mask order.
pub const PRIMITIVES: [&str; 11] = [
    "move_n", "move_e", "move_s", "move_w", "wait", "interact", "talk", "buy", "use_item", "sleep", "equip",
];

/// Item indices in the economy (`economy::ITEMS`).
const MEAL: usize = 0;
const FOOD_RAW: usize = 1;

impl World {
    fn role_exists(&self, role: Role) -> bool {
        !self.role_objects[role as usize].is_empty()
    }

    /// Whether agent `s` has an object of `role` at home (`home_object(s, role) >= 0`, in O(1)).
    pub(crate) fn home_has(&self, s: usize, role: Role) -> bool {
        !self.home_candidates(s, role).is_empty()
    }

    /// Whether option `o` (see `tick::OPTIONS`) is open for agent `s`: wait
    /// always; the others when their target exists for this agent and it
    /// can pay for it.
    pub(crate) fn option_open(&self, s: usize, o: u8) -> bool {
        let a = &self.agents;
        match o {
            0 => true,
            1 => {
                let [raw, meal, _] = a.inventory[s];
                (meal > 0 && self.home_has(s, Role::Fridge))
                    || (raw > 0 && self.home_has(s, Role::Stove))
                    || (self.role_exists(Role::Till) && a.wallet[s] >= self.economy.price(MEAL))
            }
            2 => self.economy.utility_on(Utility::Water, self.tick) && self.home_has(s, Role::Shower),
            3 => {
                let job = a.job[s];
                job >= 0
                    && self
                        .site_fields
                        .get(usize::from(self.spec.job_sites[job as usize]))
                        .is_some_and(|f| !f.is_empty())
            }
            4 => self.role_exists(Role::Shelf) && a.wallet[s] >= self.economy.price(FOOD_RAW),
            5 => self.home_has(s, Role::Bed),
            6 => self.role_exists(Role::Bench),
            _ => false,
        }
    }

    /// Every option's [`World::option_open`] for agent `s`.
    pub(crate) fn option_mask(&self, s: usize, out: &mut [bool]) {
        for (o, open) in out.iter_mut().enumerate() {
            *open = self.option_open(s, o as u8);
        }
    }

    /// Primitives (see [`PRIMITIVES`]).
    pub(crate) fn primitive_mask(&self, s: usize, out: &mut [bool]) {
        let a = &self.agents;
        let (x, y) = (a.x[s], a.y[s]);
        let me = s as u32;
        let bed = self.spec.roles[Role::Bed as usize];
        let home = a.home[s];
        let (mut interact, mut buy, mut sleep) = (false, false, false);
        for (d, (dx, dy)) in DIRECTIONS.iter().enumerate() {
            let tile = self.grid.index(x + dx, y + dy);
            out[d] = tile.is_some_and(|t| self.grid.walkable(t));
            let Some(t) = tile else { continue };
            let o = self.tile_object[t];
            if o < 0 {
                continue;
            }
            let (oi, ob) = (o as usize, &self.spec.objects[o as usize]);
            let free = !self.queues.occupied(oi) || self.queues.holds(oi, me);
            interact |= free;
            if ob.sells >= 0 {
                buy |= a.wallet[s] >= self.economy.price(ob.sells as usize);
            }
            sleep |= i32::from(ob.object_type) == bed && home >= 0 && ob.venue == home && free;
        }
        let talk = (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                let n = self.spatial.occupancy(x + dx, y + dy);
                n > u16::from(dx == 0 && dy == 0)
            })
        });
        let [_, meal, clothes] = a.inventory[s];
        out[4] = true;
        out[5] = interact;
        out[6] = talk;
        out[7] = buy;
        out[8] = meal > 0 || clothes > 0;
        out[9] = sleep;
        out[10] = clothes > 0;
    }
}
