//! Scripted controllers: an option per agent becomes primitives.
//!
//! An option names a target: one of the agent's own home objects (reached
//! by an A* route) or the nearest public object of a type (reached by
//! following a precomputed BFS field, no search). At the object the agent
//! asks for a reservation; while it waits it stands on the object's queue
//! node for its place in line (head first), moving up as the line advances,
//! and walks to the access tile once it holds the reservation. The tick
//! (`tick.rs`) runs the controllers, then admission, then movement.

use crate::grid::DIRECTIONS;
use crate::world::{Plan, Role, World, ROLES};

/// Ticks an agent waits before looking for a target again after finding none.
pub(crate) const RETRY_TICKS: u64 = 16;
/// How far (Manhattan steps) an agent looks for a free object when the one
/// its field led to is taken; beyond that it queues instead.
pub(crate) const DETOUR_RADIUS: i32 = 24;

/// A* queries share a per-tick budget of expanded tiles (`route_budget`):
/// a tick where everyone starts a trip home spreads its planning over the
/// next few ticks instead of stalling.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RouteBudget {
    routes: u32,
    spent: u32,
}

impl World {
    fn role_type(&self, role: Role) -> i32 {
        self.spec.roles[role as usize]
    }

    /// Nearest object (Manhattan, ties by index) of `role` among `candidates`.
    fn nearest(&self, slot: usize, role: Role, candidates: impl Iterator<Item = u32>) -> i32 {
        let t = self.role_type(role);
        if t < 0 {
            return -1;
        }
        let (x, y) = (self.agents.x[slot], self.agents.y[slot]);
        candidates
            .filter(|&o| i32::from(self.spec.objects[o as usize].object_type) == t)
            .filter(|&o| !self.access[o as usize].is_empty())
            .min_by_key(|&o| {
                let ob = &self.spec.objects[o as usize];
                ((ob.x - x).abs() + (ob.y - y).abs(), o)
            })
            .map_or(-1, |o| o as i32)
    }

    /// The agent's home objects of `role` (reachable, ascending); empty without a home.
    pub(crate) fn home_candidates(&self, slot: usize, role: Role) -> &[u32] {
        let home = self.agents.home[slot];
        if home < 0 {
            return &[];
        }
        let i = home as usize * ROLES + role as usize;
        &self.home_objects[self.home_start[i] as usize..self.home_start[i + 1] as usize]
    }

    /// Nearest home object of `role` for agent `slot` (Manhattan, ties by index), or -1.
    pub(crate) fn home_object(&self, slot: usize, role: Role) -> i32 {
        match self.home_candidates(slot, role) {
            [] => -1,
            [only] => *only as i32,
            many => self.nearest(slot, role, many.iter().copied()),
        }
    }

    /// What an option heads for: a specific object (the agent's own home
    /// objects), or a distance field to follow toward the nearest public
    /// object. `(-1, -1)`: nothing to do.
    pub(crate) fn choose_target(&self, slot: usize, option: u8) -> (i32, i16) {
        let a = &self.agents;
        let public = |role: Role| -> (i32, i16) {
            let t = self.role_type(role);
            if t >= 0 && !self.role_objects[role as usize].is_empty() {
                (-1, t as i16)
            } else {
                (-1, -1)
            }
        };
        match option {
            1 => {
                let [raw, meal, _] = a.inventory[slot];
                let home = if meal > 0 {
                    self.home_object(slot, Role::Fridge)
                } else if raw > 0 {
                    self.home_object(slot, Role::Stove)
                } else {
                    -1
                };
                if home >= 0 {
                    (home, -1)
                } else {
                    public(Role::Till)
                }
            }
            2 => (self.home_object(slot, Role::Shower), -1),
            3 => {
                let job = a.job[slot];
                if job < 0 {
                    return (-1, -1);
                }
                let kind = usize::from(self.spec.job_sites[job as usize]);
                match self.site_fields.get(kind) {
                    Some(f) if !f.is_empty() => (-1, (self.type_fields.len() + kind) as i16),
                    _ => (-1, -1),
                }
            }
            4 => public(Role::Shelf),
            5 => (self.home_object(slot, Role::Bed), -1),
            6 => public(Role::Bench),
            _ => (-1, -1),
        }
    }

    /// On an access tile of a followed field: the adjacent object it leads to
    /// (of the field's type, or a desk at the field's site kind), preferring
    /// a free one; -1 if none.
    fn object_at_field_end(&self, slot: usize, field: i16) -> i32 {
        let types = self.type_fields.len();
        let f = field as usize;
        let (x, y) = (self.agents.x[slot], self.agents.y[slot]);
        let mut best = -1;
        for (dx, dy) in crate::grid::DIRECTIONS {
            let Some(t) = self.grid.index(x + dx, y + dy) else {
                continue;
            };
            let o = self.tile_object[t];
            if o < 0 {
                continue;
            }
            let ob = &self.spec.objects[o as usize];
            let matches = if f < types {
                usize::from(ob.object_type) == f
            } else {
                i32::from(ob.object_type) == self.role_type(Role::Desk)
                    && ob.venue >= 0
                    && usize::from(self.spec.venues[ob.venue as usize].kind) == f - types
            };
            if matches {
                if !self.queues.occupied(o as usize) {
                    return o;
                }
                if best < 0 {
                    best = o;
                }
            }
        }
        best
    }

    /// The nearest free object a field stands for (same type, or a desk at
    /// the same site kind) within [`DETOUR_RADIUS`] steps (Manhattan): the
    /// fallback when the field's end is taken. -1 when none is that close;
    /// the agent then queues where it is rather than crossing the town, which
    /// also keeps the search O(objects nearby) at any population.
    fn nearest_free(&self, slot: usize, field: i16) -> i32 {
        let types = self.type_fields.len();
        let f = field as usize;
        let wanted = if f < types {
            i32::try_from(f).unwrap_or(-1)
        } else {
            self.role_type(Role::Desk)
        };
        let (x, y) = (self.agents.x[slot], self.agents.y[slot]);
        let mut best: Option<(i32, u32)> = None;
        self.object_buckets.for_each_near(x, y, DETOUR_RADIUS, |o, ox, oy| {
            let d = (ox - x).abs() + (oy - y).abs();
            if d > DETOUR_RADIUS || best.is_some_and(|b| b <= (d, o)) {
                return;
            }
            let ob = &self.spec.objects[o as usize];
            let kind_ok =
                f < types || (ob.venue >= 0 && usize::from(self.spec.venues[ob.venue as usize].kind) == f - types);
            if i32::from(ob.object_type) == wanted
                && kind_ok
                && !self.queues.occupied(o as usize)
                && !self.access[o as usize].is_empty()
            {
                best = Some((d, o));
            }
        });
        best.map_or(-1, |(_, o)| o as i32)
    }

    /// One step downhill on a field (N, E, S, W order breaks ties); 0 when
    /// nothing is lower.
    fn downhill(&self, slot: usize, field: &[u16]) -> u8 {
        self.downhill_from(self.here(slot), field)
    }

    pub(crate) fn at_access(&self, slot: usize, object: usize) -> bool {
        let here = self.grid.index(self.agents.x[slot], self.agents.y[slot]);
        here.is_some_and(|t| self.access[object].contains(&t))
    }

    pub(crate) fn here(&self, slot: usize) -> usize {
        self.grid
            .index(self.agents.x[slot], self.agents.y[slot])
            .expect("agents stand on the grid")
    }

    fn request(&mut self, slot: usize, object: usize) {
        let patience = f64::from(self.agents.personality[slot][3]);
        self.queues
            .request(object, slot as u32, patience)
            .expect("target objects exist");
    }

    /// An A* route from the agent to `goals` within the tick's budget:
    /// `None` when the budget is spent (the agent plans next tick), else
    /// whether a route was found.
    fn plan_route(
        &mut self,
        slot: usize,
        goals: &[usize],
        out: &mut Vec<u8>,
        budget: &mut RouteBudget,
    ) -> Option<bool> {
        if budget.routes > 0 && budget.spent >= self.spec.route_budget {
            self.route_stats.deferred += 1;
            return None;
        }
        let start = self.here(slot);
        let found = self.pathfinder.route(&self.grid, start, goals, out);
        let expanded = self.pathfinder.expanded();
        budget.routes += 1;
        budget.spent = budget.spent.saturating_add(expanded);
        self.route_stats.planned += 1;
        self.route_stats.expanded += u64::from(expanded);
        Some(found)
    }

    /// The next step of the stored route to `object`'s access tiles,
    /// planning one when the route is used up.
    fn walk_to_access(&mut self, slot: usize, object: usize, budget: &mut RouteBudget) -> u8 {
        let plan = &self.plans[slot];
        if usize::from(plan.step) >= plan.path.len() {
            let mut path = std::mem::take(&mut self.plans[slot].path);
            let goals = std::mem::take(&mut self.access[object]);
            let found = self.plan_route(slot, &goals, &mut path, budget);
            self.access[object] = goals;
            self.plans[slot].path = path;
            self.plans[slot].step = 0;
            match found {
                None => return 0,
                Some(false) => {
                    self.plans[slot].target = -1;
                    self.plans[slot].retry_at = self.tick + RETRY_TICKS;
                    return 0;
                }
                Some(true) => {}
            }
        }
        let plan = &self.plans[slot];
        plan.path.get(usize::from(plan.step)).copied().unwrap_or(0)
    }

    /// A waiting agent's move toward the queue node for its `place` in line
    /// (the last node when the line is longer than the nodes); 0 when it is
    /// there or the object has no nodes.
    fn step_to_node(&mut self, slot: usize, object: usize, place: usize, budget: &mut RouteBudget) -> u8 {
        let nodes = &self.queue_nodes[object];
        let Some(&node) = nodes.get(place.min(nodes.len().saturating_sub(1))) else {
            return 0;
        };
        let here = self.here(slot);
        if here == node || (place >= nodes.len() && self.grid.manhattan(here, node) <= 1) {
            return 0;
        }
        // Off the stored route now: the route to the access tile is planned
        // afresh once the agent holds the reservation.
        self.plans[slot].path.clear();
        self.plans[slot].step = 0;
        let (x, y) = self.grid.coords(here);
        let (nx, ny) = self.grid.coords(node);
        let greedy = DIRECTIONS
            .iter()
            .enumerate()
            .filter(|(_, (dx, dy))| ((nx - x - dx).abs() + (ny - y - dy).abs()) < ((nx - x).abs() + (ny - y).abs()))
            .find(|(_, (dx, dy))| self.grid.index(x + dx, y + dy).is_some_and(|t| self.grid.walkable(t)));
        if let Some((d, _)) = greedy {
            return d as u8 + 1;
        }
        // A wall in between: the first step of a short route.
        let mut path = std::mem::take(&mut self.plans[slot].path);
        let first = match self.plan_route(slot, &[node], &mut path, budget) {
            Some(true) => path.first().copied().unwrap_or(0),
            _ => 0,
        };
        path.clear();
        self.plans[slot].path = path;
        first
    }

    /// The primitive (0 stay, 1-4 N/E/S/W) for an idle agent following
    /// `option` this tick; may request a reservation as a side effect.
    pub(crate) fn control(&mut self, s: usize, option: u8, budget: &mut RouteBudget) -> u8 {
        let tick = self.tick;
        let me = s as u32;
        let plan = &self.plans[s];
        let idle = plan.target < 0 && plan.field < 0;
        let replan = option != plan.option || (idle && tick >= plan.retry_at);
        if replan {
            let (target, field) = self.choose_target(s, option);
            let old = self.plans[s].target;
            if old >= 0 && old != target {
                // Changed plans: give up the place in line or the unused reservation.
                self.queues.leave(old as usize, me);
                self.queues.release(old as usize, me);
            }
            let retry_at = if target < 0 && field < 0 { tick + RETRY_TICKS } else { 0 };
            let mut path = std::mem::take(&mut self.plans[s].path);
            path.clear();
            self.plans[s] = Plan {
                option,
                target,
                path,
                step: 0,
                retry_at,
                field,
            };
        }
        let field = self.plans[s].field;
        if self.plans[s].target < 0 && field >= 0 {
            // Follow the field toward the nearest public object.
            let here = self.here(s);
            let values = self.plan_field(field);
            match values.get(here).copied().unwrap_or(crate::grid::UNREACHABLE) {
                0 => {
                    let mut object = self.object_at_field_end(s, field);
                    let taken = object >= 0 && self.queues.occupied(object as usize);
                    if taken {
                        // Everything at this spot is busy: head for the nearest free one.
                        let free = self.nearest_free(s, field);
                        if free >= 0 {
                            object = free;
                        }
                    }
                    self.plans[s].field = -1;
                    self.plans[s].target = object;
                    if object < 0 {
                        self.plans[s].retry_at = tick + RETRY_TICKS;
                    }
                }
                crate::grid::UNREACHABLE => {
                    self.plans[s].field = -1;
                    self.plans[s].retry_at = tick + RETRY_TICKS;
                }
                _ => return self.downhill(s, values),
            }
        }
        let target = self.plans[s].target;
        if target < 0 {
            return 0;
        }
        let object = target as usize;
        if self.queues.holds(object, me) {
            if self.at_access(s, object) {
                // Admission starts the affordance.
                self.request(s, object);
                return 0;
            }
            return self.walk_to_access(s, object, budget);
        }
        if let Some(place) = self.queues.position(object, me) {
            // Waiting: keep the place (the head is admitted when a
            // reservation frees) and stand on the node for it.
            self.request(s, object);
            return self.step_to_node(s, object, place, budget);
        }
        let here = self.here(s);
        let in_line = self.queue_nodes[object]
            .iter()
            .any(|&n| self.grid.manhattan(here, n) <= 1);
        if self.at_access(s, object) || (in_line && self.queues.occupied(object)) {
            self.request(s, object);
            return 0;
        }
        self.walk_to_access(s, object, budget)
    }
}

#[cfg(test)]
mod tests {
    use crate::rewards::N_COMPONENTS;
    use crate::tick::{Event, EventKind};
    use crate::world::tests::{agent, spec};
    use crate::world::World;

    fn step(w: &mut World, options: &[u8], events: &mut Vec<Event>) {
        let n = w.agents().capacity();
        let (mut rewards, mut totals) = (vec![0.0; n * N_COMPONENTS], vec![0.0; n]);
        w.step(options, &mut rewards, &mut totals, events).unwrap();
    }

    #[test]
    fn waiting_agents_stand_on_queue_nodes_in_order_and_get_served() {
        let mut s = spec();
        // The fridge at (10, 6): a line of nodes going north from it.
        s.objects[1].queue_nodes = vec![(10, 4), (10, 3), (10, 2)];
        s.affordances[0].duration = 30;
        let mut w = World::new(s).unwrap();
        for x in [7, 4, 2] {
            let mut a = agent(x, 6);
            a.inventory = [0, 1, 0];
            w.spawn(&a).unwrap();
        }
        let mut events = Vec::new();
        let mut lined_up = false;
        for _ in 0..200 {
            step(&mut w, &[1, 1, 1], &mut events);
            let at = |s: usize| (w.agents().x[s], w.agents().y[s]);
            if w.queues().holders(1).next() == Some(0) && at(1) == (10, 4) && at(2) == (10, 3) {
                lined_up = true;
                assert_eq!(w.queues().waiting(1).collect::<Vec<_>>(), vec![1, 2]);
            }
        }
        assert!(lined_up, "the two waiting agents stood on the first two nodes");
        let starts: Vec<u32> = events
            .iter()
            .filter(|e| e.kind == EventKind::AffordanceStart && e.object == 1)
            .map(|e| e.slot)
            .collect();
        assert_eq!(starts, vec![0, 1, 2], "served in the order they lined up");
        assert!((0..3).all(|s| w.agents().inventory[s][1] == 0), "everyone ate");
        assert!(w.queues().holders(1).next().is_none());
    }

    #[test]
    fn queue_nodes_must_be_walkable() {
        let mut s = spec();
        s.objects[1].queue_nodes = vec![(0, 0)];
        let err = World::new(s).unwrap_err();
        assert!(err.to_string().contains("queue node (0, 0)"), "{err}");
    }
}
