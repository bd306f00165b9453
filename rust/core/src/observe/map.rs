//! Egocentric map windows, channel-major (`channels x window x window`).
//!
//! Row 0 is the northmost row, column 0 the westmost; the agent stands at
//! `(window / 2, window / 2)`. Cells off the grid read as walls. Static
//! facts per tile (wall, object, queue node) are packed into one byte at
//! build time, so a window cell costs a byte, an occupancy count and, for
//! objects, a type lookup.

use crate::grid::{Grid, DIRECTIONS};
use crate::world::{ObjectSpec, World};

/// Tile code bits.
pub(crate) const WALL: u8 = 1;
pub(crate) const OBJECT: u8 = 2;
pub(crate) const NODE: u8 = 4;

/// Channels of the full map before the per-type object channels (walls, agents).
const FIRST_TYPE: usize = 2;

/// Static per-tile codes: WALL for blocked tiles without an object,
/// OBJECT under objects, NODE on queue nodes.
pub(crate) fn tile_codes(grid: &Grid, objects: &[ObjectSpec], queue_nodes: &[Vec<usize>]) -> Vec<u8> {
    let mut code: Vec<u8> = (0..grid.len())
        .map(|t| if grid.walkable(t) { 0 } else { WALL })
        .collect();
    for o in objects {
        if let Some(t) = grid.index(o.x, o.y) {
            code[t] = OBJECT;
        }
    }
    for &t in queue_nodes.iter().flatten() {
        code[t] |= NODE;
    }
    code
}

impl World {
    /// The window's rows: for each, the first cell index of the row, and
    /// the run of cells on the grid (first cell, first tile, length; length
    /// 0 when the whole row is off the grid). Cells outside the run are
    /// padding.
    #[inline]
    fn window_rows(&self, s: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        let w = self.obs_layout.window as i32;
        let r = w / 2;
        let (width, height) = (self.spec.width as i32, self.spec.height as i32);
        let (x0, y0) = (self.agents.x[s] - r, self.agents.y[s] - r);
        let (xa, xb) = (x0.max(0), (x0 + w).min(width));
        (0..w).map(move |dy| {
            let wy = y0 + dy;
            let row = (dy * w) as usize;
            if wy < 0 || wy >= height || xa >= xb {
                (row, row, 0, 0)
            } else {
                (
                    row,
                    row + (xa - x0) as usize,
                    (wy * width + xa) as usize,
                    (xb - xa) as usize,
                )
            }
        })
    }

    /// The centre cell (the agent itself) is not an "other agent".
    #[inline]
    fn centre(&self) -> usize {
        let w = self.obs_layout.window;
        (w / 2) * w + w / 2
    }

    /// walls, agents, one channel per object type, reserved, queue nodes, path hint.
    pub(crate) fn full_map(&self, s: usize, map: &mut [f32]) {
        map.fill(0.0);
        let area = self.obs_layout.window * self.obs_layout.window;
        let types = self.spec.object_types;
        let (reserved, nodes, hint) = (FIRST_TYPE + types, FIRST_TYPE + types + 1, FIRST_TYPE + types + 2);
        let occupancy = self.spatial.occupancy_map();
        let (code, objects) = (&self.tile_code, &self.tile_object);
        let (walls, rest) = map.split_at_mut(area);
        let (agents, rest) = rest.split_at_mut(area);
        let w = self.obs_layout.window;
        for (row, first, tile, len) in self.window_rows(s) {
            for i in (row..first).chain(first + len..row + w) {
                walls[i] = 1.0;
            }
            let cells = first..first + len;
            for ((i, &c), &n) in cells.zip(&code[tile..tile + len]).zip(&occupancy[tile..tile + len]) {
                if n > 0 {
                    agents[i] = 1.0;
                }
                if c == 0 {
                    continue;
                }
                if c & WALL != 0 {
                    walls[i] = 1.0;
                } else if c & OBJECT != 0 {
                    let o = objects[tile + i - first] as usize;
                    let ty = usize::from(self.spec.objects[o].object_type);
                    rest[ty * area + i] = 1.0;
                    if self.queues.occupied(o) {
                        rest[(reserved - FIRST_TYPE) * area + i] = 1.0;
                    }
                }
                if c & NODE != 0 {
                    rest[(nodes - FIRST_TYPE) * area + i] = 1.0;
                }
            }
        }
        let centre = self.centre();
        let here = self.grid.index(self.agents.x[s], self.agents.y[s]).expect("on grid");
        if occupancy[here] <= 1 {
            agents[centre] = 0.0;
        }
        if self.spec.observation.path_hints {
            let start = (hint - FIRST_TYPE) * area;
            self.mark_path(s, &mut rest[start..start + area]);
        }
    }

    /// walls, objects, agents.
    pub(crate) fn thin_map(&self, s: usize, map: &mut [f32]) {
        let area = self.obs_layout.window * self.obs_layout.window;
        let occupancy = self.spatial.occupancy_map();
        let code = &self.tile_code;
        let (walls, rest) = map.split_at_mut(area);
        let (objects, agents) = rest.split_at_mut(area);
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let w = self.obs_layout.window;
        for (row, first, tile, len) in self.window_rows(s) {
            for i in (row..first).chain(first + len..row + w) {
                walls[i] = 1.0;
                objects[i] = 0.0;
                agents[i] = 0.0;
            }
            let cells = first..first + len;
            for ((i, &c), &n) in cells.zip(&code[tile..tile + len]).zip(&occupancy[tile..tile + len]) {
                walls[i] = flag(c & WALL != 0);
                objects[i] = flag(c & OBJECT != 0);
                agents[i] = flag(n > 0);
            }
        }
        let here = self.grid.index(self.agents.x[s], self.agents.y[s]).expect("on grid");
        if occupancy[here] <= 1 {
            agents[self.centre()] = 0.0;
        }
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
