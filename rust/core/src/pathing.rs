//! A* routes to one specific target set (an agent's home or workplace).
//!
//! Static BFS fields answer "nearest object of a type" for everyone; a
//! route to *my* home cannot share a field, and a field per home would cost
//! O(homes x area) memory. Instead an agent plans an A* path when it starts
//! a trip and follows it, re-planning only when blocked. Scratch buffers are
//! reused across queries (generation-stamped), so a query allocates nothing
//! once warmed up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::grid::{Grid, DIRECTIONS};

/// Reusable A* scratch space for one grid.
#[derive(Debug, Clone, Default)]
pub struct Pathfinder {
    cost: Vec<u32>,
    stamp: Vec<u32>,
    came_from: Vec<u8>,
    generation: u32,
    open: BinaryHeap<Reverse<(u32, u32, u32)>>,
    goal_mark: Vec<u32>,
}

impl Pathfinder {
    fn prepare(&mut self, n: usize) {
        if self.cost.len() != n {
            self.cost = vec![0; n];
            self.stamp = vec![0; n];
            self.came_from = vec![0; n];
            self.goal_mark = vec![0; n];
            self.generation = 0;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.goal_mark.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        self.open.clear();
    }

    /// Plans the shortest 4-connected path from `start` to any of `goals`
    /// (walkable tile indices) and writes it to `out` as direction codes
    /// (1 N, 2 E, 3 S, 4 W), first step first. Returns false (and clears
    /// `out`) when no goal is reachable or `start` is blocked. `start`
    /// itself may be a goal.
    pub fn route(&mut self, grid: &Grid, start: usize, goals: &[usize], out: &mut Vec<u8>) -> bool {
        out.clear();
        let n = grid.len();
        if start >= n || goals.is_empty() || !grid.walkable(start) {
            return false;
        }
        self.prepare(n);
        let gen = self.generation;
        let mut any_goal = false;
        for &g in goals {
            if g < n && grid.walkable(g) {
                self.goal_mark[g] = gen;
                any_goal = true;
            }
        }
        if !any_goal {
            return false;
        }
        if self.goal_mark[start] == gen {
            return true;
        }
        let coords: Vec<(i32, i32)> = goals.iter().filter(|&&g| g < n).map(|&g| grid.coords(g)).collect();
        // Manhattan distance to the nearest goal: admissible and consistent.
        let h = |idx: usize| -> u32 {
            let (x, y) = grid.coords(idx);
            coords
                .iter()
                .map(|&(gx, gy)| (gx - x).unsigned_abs() + (gy - y).unsigned_abs())
                .min()
                .unwrap_or(0)
        };
        self.cost[start] = 0;
        self.stamp[start] = gen;
        // Heap key (f, h, index): among equal f, expand the node nearest the
        // goal first. On open ground this keeps the search close to the
        // straight line instead of flooding the start-goal rectangle.
        self.open.push(Reverse((h(start), h(start), start as u32)));
        let mut found = None;
        while let Some(Reverse((f, hv, cur))) = self.open.pop() {
            let cur = cur as usize;
            let g = f - hv;
            if g > self.cost[cur] {
                continue;
            }
            if self.goal_mark[cur] == gen {
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
                if self.stamp[next] != gen || ng < self.cost[next] {
                    self.stamp[next] = gen;
                    self.cost[next] = ng;
                    self.came_from[next] = d as u8;
                    let hn = h(next);
                    self.open.push(Reverse((ng + hn, hn, next as u32)));
                }
            }
        }
        let Some(mut at) = found else { return false };
        while at != start {
            let d = self.came_from[at];
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
                                          start in 0usize..196, goals in proptest::collection::vec(0usize..196, 1..4)) {
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
