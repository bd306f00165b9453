//! Egocentric map windows, channel-major (`channels x window x window`).
//!
//! Row 0 is the northmost row, column 0 the westmost; the agent stands at
//! `(window / 2, window / 2)`. Cells off the grid read as walls.

use crate::grid::DIRECTIONS;
use crate::world::World;

/// Channels of the full map before the per-type object channels.
const WALLS: usize = 0;
const AGENTS: usize = 1;
const FIRST_TYPE: usize = 2;

impl World {
    /// Calls `cell(index, tile)` for every window cell, `tile` None off the grid.
    #[inline]
    fn for_window(&self, s: usize, mut cell: impl FnMut(usize, Option<usize>)) {
        let w = self.obs_layout.window;
        let r = (w / 2) as i32;
        let (x0, y0) = (self.agents.x[s] - r, self.agents.y[s] - r);
        for dy in 0..w {
            for dx in 0..w {
                cell(dy * w + dx, self.grid.index(x0 + dx as i32, y0 + dy as i32));
            }
        }
    }

    fn agents_at(&self, s: usize, tile: usize) -> f32 {
        let (x, y) = self.grid.coords(tile);
        let mut n = self.spatial.occupancy(x, y);
        if x == self.agents.x[s] && y == self.agents.y[s] {
            n = n.saturating_sub(1);
        }
        if n > 0 {
            1.0
        } else {
            0.0
        }
    }

    /// walls, agents, one channel per object type, reserved, queue nodes, path hint.
    pub(crate) fn full_map(&self, s: usize, map: &mut [f32]) {
        map.fill(0.0);
        let area = self.obs_layout.window * self.obs_layout.window;
        let types = self.spec.object_types;
        let (reserved, nodes, hint) = (FIRST_TYPE + types, FIRST_TYPE + types + 1, FIRST_TYPE + types + 2);
        self.for_window(s, |i, tile| {
            let Some(t) = tile else {
                map[WALLS * area + i] = 1.0;
                return;
            };
            let o = self.tile_object[t];
            if o >= 0 {
                let ty = usize::from(self.spec.objects[o as usize].object_type);
                map[(FIRST_TYPE + ty) * area + i] = 1.0;
                if self.queues.occupied(o as usize) {
                    map[reserved * area + i] = 1.0;
                }
            } else if !self.grid.walkable(t) {
                map[WALLS * area + i] = 1.0;
            }
            map[AGENTS * area + i] = self.agents_at(s, t);
            if self.queue_tile[t] {
                map[nodes * area + i] = 1.0;
            }
        });
        if self.spec.observation.path_hints {
            self.mark_path(s, &mut map[hint * area..(hint + 1) * area]);
        }
    }

    /// walls, objects, agents.
    pub(crate) fn thin_map(&self, s: usize, map: &mut [f32]) {
        let area = self.obs_layout.window * self.obs_layout.window;
        let (walls, rest) = map.split_at_mut(area);
        let (objects, agents) = rest.split_at_mut(area);
        self.for_window(s, |i, tile| match tile {
            None => {
                walls[i] = 1.0;
                objects[i] = 0.0;
                agents[i] = 0.0;
            }
            Some(t) => {
                let object = self.tile_object[t] >= 0;
                walls[i] = if !object && !self.grid.walkable(t) { 1.0 } else { 0.0 };
                objects[i] = if object { 1.0 } else { 0.0 };
                agents[i] = self.agents_at(s, t);
            }
        });
    }

    /// Marks the cells of the agent's next steps (stored route, or descent
    /// along its distance field) inside the window, up to `2 x window` steps.
    fn mark_path(&self, s: usize, hint: &mut [f32]) {
        let w = self.obs_layout.window as i32;
        let r = w / 2;
        let (ax, ay) = (self.agents.x[s], self.agents.y[s]);
        let mut mark = |x: i32, y: i32| {
            let (cx, cy) = (x - ax + r, y - ay + r);
            if (0..w).contains(&cx) && (0..w).contains(&cy) {
                hint[(cy * w + cx) as usize] = 1.0;
                true
            } else {
                false
            }
        };
        let plan = &self.plans[s];
        let steps = 2 * w as usize;
        let (mut x, mut y) = (ax, ay);
        if plan.target >= 0 {
            for &d in plan.path.iter().skip(usize::from(plan.step)).take(steps) {
                let (dx, dy) = DIRECTIONS[usize::from(d.clamp(1, 4) - 1)];
                x += dx;
                y += dy;
                if !mark(x, y) {
                    break;
                }
            }
        } else if plan.field >= 0 {
            let field = self.plan_field(plan.field);
            let Some(mut here) = self.grid.index(x, y) else { return };
            for _ in 0..steps {
                let d = self.downhill_from(here, field);
                if d == 0 {
                    break;
                }
                let (dx, dy) = DIRECTIONS[usize::from(d - 1)];
                x += dx;
                y += dy;
                if !mark(x, y) {
                    break;
                }
                here = self.grid.index(x, y).expect("downhill stays on the grid");
            }
        }
    }
}
