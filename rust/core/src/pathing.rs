//! A* routes to one specific target set (an agent's home or workplace).
//!
//! Static BFS fields answer "nearest object of a type" for everyone; a
//! route to *my* home cannot share a field, and a field per home would cost
//! O(homes x area) memory. Instead an agent plans an A* path when it starts
//! a trip and follows it, re-planning only when blocked. Scratch space is
//! reused across queries (generation-stamped), so a query allocates nothing
//! once warmed up. Each tile's search state is one packed 8-byte record, so
//! a query on a large, cache-cold grid touches one cache line per tile.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::codec::{Reader, Writer};
use crate::error::CoreResult;
use crate::grid::{Grid, DIRECTIONS};

/// Goal sets up to this size are checked by a scan instead of a stamped mark.
const SMALL_GOALS: usize = 8;

/// Search state of one tile: the generation that last touched it, and the
/// best known cost with the arrival direction in the low two bits.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    stamp: u32,
    cost_dir: u32,
}

/// Reusable A* scratch space for one grid.
#[derive(Debug, Clone, Default)]
pub struct Pathfinder {
    nodes: Vec<Node>,
    generation: u32,
    open: BinaryHeap<Reverse<(u32, u32, u32)>>,
    /// Stamped goal marks, used only for large goal sets.
    goal_mark: Vec<u32>,
    goals: Vec<usize>,
    goal_coords: Vec<(i32, i32)>,
    expanded: u32,
}

/// Route-planning counters, kept for telemetry and serialised with the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteStats {
    /// A* queries run.
    pub planned: u64,
    /// Queries put off to a later tick by the per-tick planning budget.
    pub deferred: u64,
    /// Tiles expanded by all queries.
    pub expanded: u64,
}

impl RouteStats {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.planned);
        w.u64(self.deferred);
        w.u64(self.expanded);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> CoreResult<RouteStats> {
        Ok(RouteStats {
            planned: r.u64()?,
            deferred: r.u64()?,
            expanded: r.u64()?,
        })
    }
}

impl Pathfinder {
    fn prepare(&mut self, n: usize, large_goals: bool) {
        if self.nodes.len() != n {
            self.nodes = vec![Node::default(); n];
            self.goal_mark = Vec::new();
            self.generation = 0;
        }
        if large_goals && self.goal_mark.len() != n {
            self.goal_mark = vec![0; n];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.nodes.iter_mut().for_each(|s| s.stamp = 0);
            self.goal_mark.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.open.clear();
        self.expanded = 0;
    }

    /// Tiles expanded by the last [`Pathfinder::route`] query.
    pub fn expanded(&self) -> u32 {
        self.expanded
    }

    fn is_goal(&self, idx: usize, gen: u32) -> bool {
        if self.goals.len() <= SMALL_GOALS {
            self.goals.contains(&idx)
        } else {
            self.goal_mark[idx] == gen
        }
    }

    /// Plans the shortest 4-connected path from `start` to any of `goals`
    /// (walkable tile indices) and writes it to `out` as direction codes
    /// (1 N, 2 E, 3 S, 4 W), first step first. Returns false (and clears
    /// `out`) when no goal is reachable or `start` is blocked. `start`
    /// itself may be a goal.
    pub fn route(&mut self, grid: &Grid, start: usize, goals: &[usize], out: &mut Vec<u8>) -> bool {
        out.clear();
        let n = grid.len();
        if start >= n || !grid.walkable(start) {
            return false;
        }
        let mut wanted = std::mem::take(&mut self.goals);
        wanted.clear();
        wanted.extend(goals.iter().copied().filter(|&g| g < n && grid.walkable(g)));
        wanted.sort_unstable();
        wanted.dedup();
        self.goals = wanted;
        if self.goals.is_empty() {
            return false;
        }
        let large = self.goals.len() > SMALL_GOALS;
        self.prepare(n, large);
        let gen = self.generation;
        if large {
            for &g in &self.goals {
                self.goal_mark[g] = gen;
            }
        }
        if self.is_goal(start, gen) {
            return true;
        }
        let mut coords = std::mem::take(&mut self.goal_coords);
        coords.clear();
        coords.extend(self.goals.iter().map(|&g| grid.coords(g)));
        // Manhattan distance to the nearest goal: admissible and consistent.
        let h = |idx: usize| -> u32 {
            let (x, y) = grid.coords(idx);
            coords
                .iter()
                .map(|&(gx, gy)| (gx - x).unsigned_abs() + (gy - y).unsigned_abs())
                .min()
                .unwrap_or(0)
        };
        self.nodes[start] = Node {
            stamp: gen,
            cost_dir: 0,
        };
        // Heap key (f, h, index): among equal f, expand the node nearest the
        // goal first. On open ground this keeps the search close to the
        // straight line instead of flooding the start-goal rectangle.
        self.open.push(Reverse((h(start), h(start), start as u32)));
        let mut found = None;
        while let Some(Reverse((f, hv, cur))) = self.open.pop() {
            let cur = cur as usize;
            let g = f - hv;
            if g > self.nodes[cur].cost_dir >> 2 {
                continue;
            }
            self.expanded += 1;
            if self.is_goal(cur, gen) {
                found = Some(cur);
                break;
            }
            let (x, y) = grid.coords(cur);
            for (d, (dx, dy)) in DIRECTIONS.iter().enumerate() {
                let Some(next) = grid.index(x + dx, y + dy) else {
                    continue;
                };
                if !grid.walkable(next) {
                    continue;
                }
                let ng = g + 1;
                let node = &mut self.nodes[next];
                if node.stamp != gen || ng < node.cost_dir >> 2 {
                    *node = Node {
                        stamp: gen,
                        cost_dir: (ng << 2) | d as u32,
                    };
                    let hn = h(next);
                    self.open.push(Reverse((ng + hn, hn, next as u32)));
                }
            }
        }
        self.goal_coords = coords;
        let Some(mut at) = found else { return false };
        while at != start {
            let d = (self.nodes[at].cost_dir & 3) as u8;
            out.push(d + 1);
            let (dx, dy) = DIRECTIONS[usize::from(d)];
            let (x, y) = grid.coords(at);
            at = grid
                .index(x - dx, y - dy)
                .expect("came-from steps stay inside the grid");
        }
        out.reverse();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Tile, UNREACHABLE};
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};

    fn walk(grid: &Grid, start: usize, path: &[u8]) -> usize {
        let (mut x, mut y) = grid.coords(start);
        for &d in path {
            let (dx, dy) = DIRECTIONS[usize::from(d - 1)];
            x += dx;
            y += dy;
            assert!(grid.walkable(grid.index(x, y).unwrap()), "path crosses a blocked tile");
        }
        grid.index(x, y).unwrap()
    }

    #[test]
    fn routes_around_walls() {
        // .....
        // .###.
        // .#G#.
        // .#.#.
        // .....
        let rows = [".....", ".###.", ".#.#.", ".#.#.", "....."];
        let codes: Vec<u8> = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| if b == b'#' { Tile::Wall as u8 } else { 0 }))
            .collect();
        let grid = Grid::new(5, 5, &codes).unwrap();
        let mut pf = Pathfinder::default();
        let mut path = Vec::new();
        let goal = grid.index(2, 2).unwrap();
        assert!(pf.route(&grid, 0, &[goal], &mut path));
        assert_eq!(walk(&grid, 0, &path), goal);
        assert_eq!(path.len(), 8);
        assert!(pf.route(&grid, goal, &[goal], &mut path) && path.is_empty());
        assert!(
            !pf.route(&grid, 0, &[grid.index(1, 1).unwrap()], &mut path),
            "walls are not goals"
        );
    }

    proptest! {
        #[test]
        fn path_length_equals_bfs_distance(w in 2usize..14, h in 2usize..14, walls in proptest::collection::vec(any::<bool>(), 196),
                                          start in 0usize..196, goals in proptest::collection::vec(0usize..196, 1..14)) {
            let codes: Vec<u8> = (0..w * h).map(|i| if walls[i] && i % 3 != 0 { Tile::Wall as u8 } else { 0 }).collect();
            let grid = Grid::new(w, h, &codes).unwrap();
            let start = start % (w * h);
            let goals: Vec<usize> = goals.into_iter().map(|g| g % (w * h)).collect();
            let mut pf = Pathfinder::default();
            let mut path = Vec::new();
            let found = pf.route(&grid, start, &goals, &mut path);
            let dist = grid.distance_field(&goals).unwrap()[start];
            if !grid.walkable(start) || dist == UNREACHABLE {
                prop_assert!(!found);
            } else {
                prop_assert!(found);
                prop_assert_eq!(path.len(), usize::from(dist));
                let end = walk(&grid, start, &path);
                prop_assert!(goals.contains(&end));
            }
            // Reuse of the scratch space gives the same answer.
            let mut again = Vec::new();
            pf.route(&grid, start, &goals, &mut again);
            prop_assert_eq!(again, path);
        }
    }
}
