//! Tiles, layout and static distance fields.
//!
//! The grid is row-major (`index = y * width + x`). Tiles are small integer
//! codes shared with Python (`townlet.world.layout.TileKind`). Object tiles are
//! blocking; agents interact with an object from a walkable neighbour.

use std::collections::VecDeque;

use crate::error::{CoreError, CoreResult};

/// Distance value for tiles that cannot be reached.
pub const UNREACHABLE: u16 = u16::MAX;

/// Tile kinds; the numeric codes are part of the Python contract.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tile {
    Floor = 0,
    Wall = 1,
    Door = 2,
    Road = 3,
    Counter = 4,
    Table = 5,
    QueueNode = 6,
    Grass = 7,
}

impl Tile {
    /// Number of tile kinds.
    pub const COUNT: usize = 8;

    /// Decodes a tile code.
    pub fn from_code(code: u8) -> CoreResult<Tile> {
        Ok(match code {
            0 => Tile::Floor,
            1 => Tile::Wall,
            2 => Tile::Door,
            3 => Tile::Road,
            4 => Tile::Counter,
            5 => Tile::Table,
            6 => Tile::QueueNode,
            7 => Tile::Grass,
            other => return Err(CoreError::Layout(format!("unknown tile code {other} (allowed 0..=7)"))),
        })
    }

    /// Whether agents may stand on this tile kind (before objects are placed).
    pub fn walkable(self) -> bool {
        !matches!(self, Tile::Wall | Tile::Counter | Tile::Table)
    }
}

/// 4-neighbourhood offsets in N, E, S, W order (y grows southwards).
pub const DIRECTIONS: [(i32, i32); 4] = [(0, -1), (1, 0), (0, 1), (-1, 0)];

/// A static town grid: tile kinds plus a blocking mask (walls, counters and
/// tiles occupied by objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    width: usize,
    height: usize,
    tiles: Vec<Tile>,
    blocked: Vec<bool>,
}

impl Grid {
    /// Builds a grid from row-major tile codes.
    pub fn new(width: usize, height: usize, codes: &[u8]) -> CoreResult<Grid> {
        if width == 0 || height == 0 || width > 4096 || height > 4096 {
            return Err(CoreError::Layout(format!(
                "grid size {width}x{height} outside 1..=4096"
            )));
        }
        if codes.len() != width * height {
            return Err(CoreError::Shape {
                what: "tiles".into(),
                expected: format!("{} ({width}x{height})", width * height),
                got: codes.len().to_string(),
            });
        }
        let tiles = codes
            .iter()
            .map(|&c| Tile::from_code(c))
            .collect::<CoreResult<Vec<_>>>()?;
        let blocked = tiles.iter().map(|t| !t.walkable()).collect();
        Ok(Grid {
            width,
            height,
            tiles,
            blocked,
        })
    }

    /// Width in tiles.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in tiles.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether the grid has no tiles (never true for a constructed grid).
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// Row-major index of `(x, y)`, or `None` when outside the grid.
    #[inline]
    pub fn index(&self, x: i32, y: i32) -> Option<usize> {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            None
        } else {
            Some(y as usize * self.width + x as usize)
        }
    }

    /// Coordinates of a row-major index.
    #[inline]
    pub fn coords(&self, index: usize) -> (i32, i32) {
        ((index % self.width) as i32, (index / self.width) as i32)
    }

    /// Manhattan distance between two tile indices.
    #[inline]
    pub fn manhattan(&self, a: usize, b: usize) -> i32 {
        let ((ax, ay), (bx, by)) = (self.coords(a), self.coords(b));
        (ax - bx).abs() + (ay - by).abs()
    }

    /// Tile kind at an index.
    #[inline]
    pub fn tile(&self, index: usize) -> Tile {
        self.tiles[index]
    }

    /// Whether an agent may stand on the tile at `index`.
    #[inline]
    pub fn walkable(&self, index: usize) -> bool {
        !self.blocked[index]
    }

    /// Marks a tile as blocking (an object stands there) or clears it.
    /// Clearing never unblocks a tile whose kind is not walkable.
    pub fn set_blocked(&mut self, index: usize, blocked: bool) {
        self.blocked[index] = blocked || !self.tiles[index].walkable();
    }

    /// Walkable 4-neighbours of `index`, in N, E, S, W order.
    pub fn walkable_neighbours(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let (x, y) = self.coords(index);
        DIRECTIONS
            .iter()
            .filter_map(move |&(dx, dy)| self.index(x + dx, y + dy))
            .filter(move |&n| self.walkable(n))
    }

    /// Multi-source BFS over walkable tiles. Sources that are not walkable are
    /// ignored. Returns the distance in steps for every tile, [`UNREACHABLE`]
    /// where no source can be reached.
    pub fn distance_field(&self, sources: &[usize]) -> CoreResult<Vec<u16>> {
        let mut dist = vec![UNREACHABLE; self.len()];
        let mut queue = VecDeque::with_capacity(sources.len().max(16));
        for &s in sources {
            if s >= self.len() {
                return Err(CoreError::InvalidArgument(format!(
                    "source index {s} outside grid of {}",
                    self.len()
                )));
            }
            if self.walkable(s) && dist[s] == UNREACHABLE {
                dist[s] = 0;
                queue.push_back(s);
            }
        }
        while let Some(cur) = queue.pop_front() {
            let next = dist[cur].saturating_add(1);
            let (x, y) = self.coords(cur);
            for (dx, dy) in DIRECTIONS {
                if let Some(n) = self.index(x + dx, y + dy) {
                    if self.walkable(n) && dist[n] == UNREACHABLE {
                        dist[n] = next;
                        queue.push_back(n);
                    }
                }
            }
        }
        Ok(dist)
    }

    /// The walkable tiles from which an agent can use an object standing at
    /// `index` (its walkable 4-neighbours).
    pub fn access_tiles(&self, index: usize) -> Vec<usize> {
        self.walkable_neighbours(index).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(rows: &[&str]) -> Grid {
        let h = rows.len();
        let w = rows[0].len();
        let codes: Vec<u8> = rows
            .iter()
            .flat_map(|r| {
                r.bytes()
                    .map(|b| if b == b'#' { Tile::Wall as u8 } else { Tile::Floor as u8 })
            })
            .collect();
        Grid::new(w, h, &codes).unwrap()
    }

    #[test]
    fn bfs_goes_around_walls() {
        let g = parse(&["....", ".##.", "...."]);
        let d = g.distance_field(&[g.index(0, 1).unwrap()]).unwrap();
        assert_eq!(d[g.index(3, 1).unwrap()], 5);
        assert_eq!(d[g.index(1, 1).unwrap()], UNREACHABLE);
    }

    #[test]
    fn rejects_bad_codes_and_shapes() {
        assert!(matches!(Grid::new(2, 2, &[0, 0, 0, 99]), Err(CoreError::Layout(_))));
        assert!(matches!(Grid::new(2, 2, &[0, 0, 0]), Err(CoreError::Shape { .. })));
        assert!(Grid::new(0, 2, &[]).is_err());
    }

    #[test]
    fn blocked_objects_are_routed_around() {
        let mut g = parse(&["...", "...", "..."]);
        g.set_blocked(g.index(1, 1).unwrap(), true);
        let d = g.distance_field(&[0]).unwrap();
        assert_eq!(d[g.index(2, 2).unwrap()], 4);
        assert_eq!(d[g.index(1, 1).unwrap()], UNREACHABLE);
        assert_eq!(g.access_tiles(g.index(1, 1).unwrap()).len(), 4);
    }

    /// Reference: distance by repeated relaxation (Bellman-Ford style).
    fn brute_force(g: &Grid, sources: &[usize]) -> Vec<u16> {
        let mut d = vec![UNREACHABLE; g.len()];
        for &s in sources {
            if g.walkable(s) {
                d[s] = 0;
            }
        }
        loop {
            let mut changed = false;
            for i in 0..g.len() {
                if !g.walkable(i) {
                    continue;
                }
                for n in g.walkable_neighbours(i) {
                    if d[n] != UNREACHABLE && d[n] + 1 < d[i] {
                        d[i] = d[n] + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                return d;
            }
        }
    }

    proptest! {
        #[test]
        fn bfs_matches_relaxation(
            w in 1usize..12, h in 1usize..12,
            walls in proptest::collection::vec(any::<bool>(), 144),
            srcs in proptest::collection::vec(0usize..144, 0..4),
        ) {
            let codes: Vec<u8> = (0..w * h).map(|i| u8::from(walls[i] && i % 3 == 0)).collect();
            let g = Grid::new(w, h, &codes).unwrap();
            let sources: Vec<usize> = srcs.into_iter().filter(|&s| s < w * h).collect();
            prop_assert_eq!(g.distance_field(&sources).unwrap(), brute_force(&g, &sources));
        }
    }
}
