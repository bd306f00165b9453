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

    fn home_has(&self, s: usize, role: Role) -> bool {
        self.home_object(s, role) >= 0
    }

    /// Options (see `tick::OPTIONS`): wait always; an option is open when its
    /// target exists for this agent and it can pay for it.
    pub(crate) fn option_mask(&self, s: usize, out: &mut [bool]) {
        let a = &self.agents;
        let [raw, meal, _] = a.inventory[s];
        let wallet = a.wallet[s];
        let water = self.economy.utility_on(Utility::Water, self.tick);
        let job = a.job[s];
        out[0] = true;
        out[1] = (meal > 0 && self.home_has(s, Role::Fridge))
            || (raw > 0 && self.home_has(s, Role::Stove))
            || (self.role_exists(Role::Till) && wallet >= self.economy.price(MEAL));
        out[2] = water && self.home_has(s, Role::Shower);
        out[3] = job >= 0
            && self
                .site_fields
                .get(usize::from(self.spec.job_sites[job as usize]))
                .is_some_and(|f| !f.is_empty());
        out[4] = self.role_exists(Role::Shelf) && wallet >= self.economy.price(FOOD_RAW);
        out[5] = self.home_has(s, Role::Bed);
        out[6] = self.role_exists(Role::Bench);
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
