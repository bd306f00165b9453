//! Movement with walls, blocking and the ghost-step deadlock breaker (SPEC §4).
//!
//! Each tick every agent may take one step N/E/S/W. Agents move one at a
//! time in an order shuffled on the world stream (so slot order gives no
//! advantage). Walls and objects can never be entered. A tile holding
//! another agent blocks; after `ghost_step_after` consecutive blocked tries
//! the agent "ghost steps" through the blocker for one tick, which is
//! counted and reported.

use crate::codec::{Reader, Writer};
use crate::error::CoreResult;
use crate::grid::{Grid, DIRECTIONS};
use crate::rng::Rng;
use crate::spatial::SpatialIndex;

/// A step intent; the codes are part of the Python contract (0 = stay).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Stay = 0,
    North = 1,
    East = 2,
    South = 3,
    West = 4,
}

impl Dir {
    /// Decodes a step code; unknown codes mean stay.
    pub fn from_code(code: u8) -> Dir {
        match code {
            1 => Dir::North,
            2 => Dir::East,
            3 => Dir::South,
            4 => Dir::West,
            _ => Dir::Stay,
        }
    }

    /// The `(dx, dy)` offset.
    pub fn offset(self) -> (i32, i32) {
        match self {
            Dir::Stay => (0, 0),
            d => DIRECTIONS[d as usize - 1],
        }
    }
}

/// Outcome of one agent's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Stayed,
    Stepped,
    /// Walked into a wall or object: no move.
    Invalid,
    /// Another agent blocked the tile.
    Blocked,
    /// Passed through a blocker after too many retries.
    Ghost,
}

/// Per-agent retry counters and totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mover {
    retries: Vec<u16>,
    order: Vec<u32>,
    pub ghost_steps: u64,
    pub blocked: u64,
}

impl Mover {
    /// Consecutive blocked tries of `slot`.
    pub fn retries(&self, slot: usize) -> u16 {
        self.retries.get(slot).copied().unwrap_or(0)
    }

    /// Writes the state that carries over between ticks (counters, blocked tries per slot).
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.ghost_steps);
        w.u64(self.blocked);
        w.len(self.retries.len());
        for &r in &self.retries {
            w.u16(r);
        }
    }

    /// Restores what [`Mover::encode`] wrote.
    pub(crate) fn decode(r: &mut Reader<'_>) -> CoreResult<Mover> {
        let ghost_steps = r.u64()?;
        let blocked = r.u64()?;
        let n = r.len(10_000_000)?;
        let retries = (0..n).map(|_| r.u16()).collect::<CoreResult<_>>()?;
        Ok(Mover {
            retries,
            order: Vec::new(),
            ghost_steps,
            blocked,
        })
    }

    /// Clears the counter of a slot (spawn, teleport).
    pub fn reset(&mut self, slot: usize) {
        if let Some(r) = self.retries.get_mut(slot) {
            *r = 0;
        }
    }

    /// Moves every live slot by its intent; `x`/`y` and the index are updated
    /// together. `blocked` is the grid's static blocking (walls, objects).
    /// Writes each slot's outcome into `outcomes` (indexed by slot).
    #[allow(clippy::too_many_arguments)]
    pub fn step_all(
        &mut self,
        grid: &Grid,
        spatial: &mut SpatialIndex,
        alive: &[bool],
        x: &mut [i32],
        y: &mut [i32],
        intents: &[u8],
        ghost_step_after: u16,
        rng: &mut Rng,
        outcomes: &mut Vec<Moved>,
    ) {
        let n = alive.len();
        if self.retries.len() < n {
            self.retries.resize(n, 0);
        }
        outcomes.clear();
        outcomes.resize(n, Moved::Stayed);
        self.order.clear();
        self.order
            .extend((0..n as u32).filter(|&s| alive[s as usize] && intents[s as usize] != 0));
        // Fisher-Yates on the world stream.
        for i in (1..self.order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            self.order.swap(i, j);
        }
        for k in 0..self.order.len() {
            let s = self.order[k] as usize;
            let (dx, dy) = Dir::from_code(intents[s]).offset();
            let (nx, ny) = (x[s] + dx, y[s] + dy);
            if !grid.index(nx, ny).is_some_and(|t| grid.walkable(t)) {
                outcomes[s] = Moved::Invalid;
                continue;
            }
            let outcome = if spatial.occupancy(nx, ny) == 0 {
                self.retries[s] = 0;
                Moved::Stepped
            } else {
                self.retries[s] = self.retries[s].saturating_add(1);
                self.blocked += 1;
                if self.retries[s] >= ghost_step_after {
                    self.retries[s] = 0;
                    self.ghost_steps += 1;
                    Moved::Ghost
                } else {
                    Moved::Blocked
                }
            };
            if matches!(outcome, Moved::Stepped | Moved::Ghost) {
                spatial
                    .move_to(s as u32, nx, ny)
                    .expect("target checked inside the grid");
                x[s] = nx;
                y[s] = ny;
            }
            outcomes[s] = outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Tile;
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};

    fn corridor() -> Grid {
        // #####
        // #...#
        // #####
        let mut codes = vec![Tile::Wall as u8; 15];
        for x in 1..4 {
            codes[5 + x] = Tile::Floor as u8;
        }
        Grid::new(5, 3, &codes).unwrap()
    }

    #[test]
    fn walls_block_and_agents_block_until_ghost_step() {
        let grid = corridor();
        let mut sp = SpatialIndex::new(5, 3, 2).unwrap();
        let (mut x, mut y) = (vec![1, 2], vec![1, 1]);
        sp.insert(0, 1, 1).unwrap();
        sp.insert(1, 2, 1).unwrap();
        let mut m = Mover::default();
        let mut rng = Rng::from_seed(1);
        let mut out = Vec::new();
        // Agent 0 walks into the wall, agent 1 stays.
        m.step_all(
            &grid,
            &mut sp,
            &[true, true],
            &mut x,
            &mut y,
            &[1, 0],
            3,
            &mut rng,
            &mut out,
        );
        assert_eq!(out[0], Moved::Invalid);
        // Agent 0 pushes east into agent 1: blocked twice, then ghosts through.
        for expected in [Moved::Blocked, Moved::Blocked, Moved::Ghost] {
            m.step_all(
                &grid,
                &mut sp,
                &[true, true],
                &mut x,
                &mut y,
                &[2, 0],
                3,
                &mut rng,
                &mut out,
            );
            assert_eq!(out[0], expected);
        }
        assert_eq!((x[0], sp.occupancy(2, 1)), (2, 2));
        assert_eq!((m.ghost_steps, m.blocked), (1, 3));
        assert_eq!(m.retries(0), 0);
    }

    proptest! {
        #[test]
        fn positions_stay_legal_and_indexed(seed in any::<u64>(), ticks in proptest::collection::vec(proptest::collection::vec(0u8..5, 6), 1..60)) {
            // A 7x6 room with a pillar.
            let mut codes = vec![Tile::Floor as u8; 42];
            for (i, code) in codes.iter_mut().enumerate() {
                let (cx, cy) = (i % 7, i / 7);
                if cx == 0 || cy == 0 || cx == 6 || cy == 5 || (cx == 3 && cy == 2) {
                    *code = Tile::Wall as u8;
                }
            }
            let grid = Grid::new(7, 6, &codes).unwrap();
            let mut sp = SpatialIndex::new(7, 6, 3).unwrap();
            let starts = [(1, 1), (2, 1), (4, 1), (1, 3), (5, 4), (2, 4)];
            let (mut x, mut y): (Vec<i32>, Vec<i32>) = starts.iter().copied().unzip();
            for (s, &(sx, sy)) in starts.iter().enumerate() {
                sp.insert(s as u32, sx, sy).unwrap();
            }
            let mut m = Mover::default();
            let mut rng = Rng::from_seed(seed);
            let mut out = Vec::new();
            let alive = [true; 6];
            for intents in ticks {
                // No ghost steps: agents never share a tile.
                m.step_all(&grid, &mut sp, &alive, &mut x, &mut y, &intents, u16::MAX, &mut rng, &mut out);
                for s in 0..6 {
                    let t = grid.index(x[s], y[s]).unwrap();
                    prop_assert!(grid.walkable(t));
                    prop_assert_eq!(sp.position(s as u32), Some((x[s], y[s])));
                    prop_assert_eq!(sp.occupancy(x[s], y[s]), 1);
                }
                prop_assert!(sp.check_invariants().is_ok());
            }
        }
    }
}
