//! Uniform-grid spatial index for agents, plus per-tile occupancy, and a
//! static bucket index for placed objects.
//!
//! Agents live in square buckets of `cell` tiles; each agent remembers its
//! bucket and its index inside it, so insert, remove and move are O(1)
//! (swap-remove with a back-pointer fix). Radius queries visit only the
//! buckets overlapping the query square: cost grows with the agents nearby,
//! never with the population. Per-tile counts answer "is this tile taken"
//! for movement blocking in O(1).

use crate::error::{CoreError, CoreResult};

/// Where an agent sits in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    bucket: u32,
    index: u32,
    x: i32,
    y: i32,
}

/// The index. Slots are the agent storage's slot numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpatialIndex {
    width: usize,
    height: usize,
    cell: usize,
    cols: usize,
    buckets: Vec<Vec<u32>>,
    entries: Vec<Option<Entry>>,
    occupancy: Vec<u16>,
    len: usize,
}

impl SpatialIndex {
    /// Default bucket side in tiles.
    pub const DEFAULT_CELL: usize = 8;

    /// An empty index over a `width` x `height` grid with square buckets of `cell` tiles.
    pub fn new(width: usize, height: usize, cell: usize) -> CoreResult<SpatialIndex> {
        if width == 0 || height == 0 || cell == 0 {
            return Err(CoreError::InvalidArgument(format!(
                "spatial index needs positive sizes, got {width}x{height} cell {cell}"
            )));
        }
        let cols = width.div_ceil(cell);
        let rows = height.div_ceil(cell);
        Ok(SpatialIndex {
            width,
            height,
            cell,
            cols,
            buckets: vec![Vec::new(); cols * rows],
            entries: Vec::new(),
            occupancy: vec![0; width * height],
            len: 0,
        })
    }

    /// Number of agents indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no agent is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, x: i32, y: i32) -> CoreResult<()> {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return Err(CoreError::InvalidArgument(format!(
                "position ({x}, {y}) outside the {}x{} grid",
                self.width, self.height
            )));
        }
        Ok(())
    }

    #[inline]
    fn bucket_of(&self, x: i32, y: i32) -> usize {
        (y as usize / self.cell) * self.cols + x as usize / self.cell
    }

    #[inline]
    fn tile(&self, x: i32, y: i32) -> usize {
        y as usize * self.width + x as usize
    }

    /// Position of `slot`, if indexed.
    pub fn position(&self, slot: u32) -> Option<(i32, i32)> {
        self.entries.get(slot as usize).copied().flatten().map(|e| (e.x, e.y))
    }

    /// Agents standing on `(x, y)` (0 outside the grid).
    pub fn occupancy(&self, x: i32, y: i32) -> u16 {
        if self.check(x, y).is_err() {
            return 0;
        }
        self.occupancy[self.tile(x, y)]
    }

    /// Per-tile agent counts, row-major.
    pub fn occupancy_map(&self) -> &[u16] {
        &self.occupancy
    }

    /// Adds `slot` at `(x, y)`. Errors if already present or outside the grid.
    pub fn insert(&mut self, slot: u32, x: i32, y: i32) -> CoreResult<()> {
        self.check(x, y)?;
        let s = slot as usize;
        if s >= self.entries.len() {
            self.entries.resize(s + 1, None);
        }
        if self.entries[s].is_some() {
            return Err(CoreError::InvalidArgument(format!("slot {slot} is already indexed")));
        }
        let bucket = self.bucket_of(x, y);
        let index = self.buckets[bucket].len() as u32;
        self.buckets[bucket].push(slot);
        self.entries[s] = Some(Entry {
            bucket: bucket as u32,
            index,
            x,
            y,
        });
        let t = self.tile(x, y);
        self.occupancy[t] = self.occupancy[t].saturating_add(1);
        self.len += 1;
        Ok(())
    }

    fn detach(&mut self, entry: Entry) {
        let bucket = &mut self.buckets[entry.bucket as usize];
        bucket.swap_remove(entry.index as usize);
        if let Some(&moved) = bucket.get(entry.index as usize) {
            if let Some(e) = self.entries[moved as usize].as_mut() {
                e.index = entry.index;
            }
        }
    }

    /// Removes `slot`; returns its last position, or `None` if it was absent.
    pub fn remove(&mut self, slot: u32) -> Option<(i32, i32)> {
        let entry = self.entries.get_mut(slot as usize)?.take()?;
        self.detach(entry);
        let t = self.tile(entry.x, entry.y);
        self.occupancy[t] -= 1;
        self.len -= 1;
        Some((entry.x, entry.y))
    }

    /// Moves (or teleports) `slot` to `(x, y)`.
    pub fn move_to(&mut self, slot: u32, x: i32, y: i32) -> CoreResult<()> {
        self.check(x, y)?;
        let Some(mut entry) = self.entries.get(slot as usize).copied().flatten() else {
            return Err(CoreError::InvalidArgument(format!("slot {slot} is not indexed")));
        };
        let old_tile = self.tile(entry.x, entry.y);
        self.occupancy[old_tile] -= 1;
        let new_tile = self.tile(x, y);
        self.occupancy[new_tile] = self.occupancy[new_tile].saturating_add(1);
        let bucket = self.bucket_of(x, y);
        if bucket != entry.bucket as usize {
            self.detach(entry);
            entry.bucket = bucket as u32;
            entry.index = self.buckets[bucket].len() as u32;
            self.buckets[bucket].push(slot);
        }
        entry.x = x;
        entry.y = y;
        self.entries[slot as usize] = Some(entry);
        Ok(())
    }

    /// Appends to `out` every slot within Chebyshev distance `radius` of
    /// `(x, y)`, in ascending slot order (deterministic). `out` is cleared first.
    pub fn query(&self, x: i32, y: i32, radius: i32, out: &mut Vec<u32>) {
        out.clear();
        if radius < 0 {
            return;
        }
        let x0 = (x - radius).max(0);
        let y0 = (y - radius).max(0);
        let x1 = (x + radius).min(self.width as i32 - 1);
        let y1 = (y + radius).min(self.height as i32 - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let (c0, c1) = (x0 as usize / self.cell, x1 as usize / self.cell);
        let (r0, r1) = (y0 as usize / self.cell, y1 as usize / self.cell);
        for row in r0..=r1 {
            for col in c0..=c1 {
                for &slot in &self.buckets[row * self.cols + col] {
                    if let Some(e) = self.entries[slot as usize] {
                        if e.x >= x0 && e.x <= x1 && e.y >= y0 && e.y <= y1 {
                            out.push(slot);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
    }

    /// Every indexed slot with its position, in ascending slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, i32, i32)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(s, e)| e.map(|e| (s as u32, e.x, e.y)))
    }

    /// Internal consistency check (used by tests): back-pointers, counts.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counted = vec![0u16; self.occupancy.len()];
        let mut seen = 0;
        for (b, bucket) in self.buckets.iter().enumerate() {
            for (i, &slot) in bucket.iter().enumerate() {
                let e = self.entries[slot as usize].ok_or(format!("slot {slot} in bucket {b} but absent"))?;
                if e.bucket as usize != b || e.index as usize != i {
                    return Err(format!(
                        "slot {slot}: back-pointer {e:?} but found at bucket {b} index {i}"
                    ));
                }
                if self.bucket_of(e.x, e.y) != b {
                    return Err(format!("slot {slot} at ({}, {}) filed in the wrong bucket", e.x, e.y));
                }
                counted[self.tile(e.x, e.y)] += 1;
                seen += 1;
            }
        }
        if seen != self.len || counted != self.occupancy {
            return Err("occupancy or length out of step with the buckets".into());
        }
        Ok(())
    }
}

/// Static points (placed objects) bucketed once, in compressed rows: radius
/// queries cost O(points nearby) and the index never changes after build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticBuckets {
    width: i32,
    height: i32,
    cell: usize,
    cols: usize,
    /// Bucket `b` holds `ids[starts[b]..starts[b + 1]]`, ascending.
    starts: Vec<u32>,
    ids: Vec<u32>,
    points: Vec<(i32, i32)>,
}

impl StaticBuckets {
    /// Buckets `points` (id = position in the slice) over a `width` x
    /// `height` grid; points off the grid are left out of every query.
    pub fn new(width: usize, height: usize, cell: usize, points: &[(i32, i32)]) -> CoreResult<StaticBuckets> {
        if width == 0 || height == 0 || cell == 0 {
            return Err(CoreError::InvalidArgument(format!(
                "static buckets need positive sizes, got {width}x{height} cell {cell}"
            )));
        }
        let cols = width.div_ceil(cell);
        let rows = height.div_ceil(cell);
        let inside = |&(x, y): &(i32, i32)| x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height;
        let bucket = |(x, y): (i32, i32)| (y as usize / cell) * cols + x as usize / cell;
        let mut starts = vec![0u32; cols * rows + 1];
        for p in points.iter().filter(|p| inside(p)) {
            starts[bucket(*p) + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        let mut fill = starts.clone();
        let mut ids = vec![0u32; starts[cols * rows] as usize];
        for (i, p) in points.iter().enumerate().filter(|(_, p)| inside(p)) {
            let b = bucket(*p);
            ids[fill[b] as usize] = i as u32;
            fill[b] += 1;
        }
        Ok(StaticBuckets {
            width: width as i32,
            height: height as i32,
            cell,
            cols,
            starts,
            ids,
            points: points.to_vec(),
        })
    }

    /// Calls `visit(id, x, y)` for every point within Chebyshev distance
    /// `radius` of `(x, y)`, bucket by bucket (row-major), ascending ids
    /// inside a bucket.
    pub fn for_each_near(&self, x: i32, y: i32, radius: i32, mut visit: impl FnMut(u32, i32, i32)) {
        if radius < 0 {
            return;
        }
        let x0 = (x - radius).max(0);
        let y0 = (y - radius).max(0);
        let x1 = (x + radius).min(self.width - 1);
        let y1 = (y + radius).min(self.height - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let (c0, c1) = (x0 as usize / self.cell, x1 as usize / self.cell);
        let (r0, r1) = (y0 as usize / self.cell, y1 as usize / self.cell);
        for row in r0..=r1 {
            let b = row * self.cols;
            let span = self.starts[b + c0] as usize..self.starts[b + c1 + 1] as usize;
            for &id in &self.ids[span] {
                let (px, py) = self.points[id as usize];
                if px >= x0 && px <= x1 && py >= y0 && py <= y1 {
                    visit(id, px, py);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, i32, i32),
        Remove(u32),
        Step(u32, i32, i32),
        Teleport(u32, i32, i32),
        Query(i32, i32, i32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..40, 0i32..30, 0i32..20).prop_map(|(s, x, y)| Op::Insert(s, x, y)),
            (0u32..40).prop_map(Op::Remove),
            (0u32..40, -1i32..=1, -1i32..=1).prop_map(|(s, dx, dy)| Op::Step(s, dx, dy)),
            (0u32..40, 0i32..30, 0i32..20).prop_map(|(s, x, y)| Op::Teleport(s, x, y)),
            (-3i32..33, -3i32..23, 0i32..12).prop_map(|(x, y, r)| Op::Query(x, y, r)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_brute_force(cell in 1usize..10, ops in proptest::collection::vec(op(), 1..300)) {
            let (w, h) = (30usize, 20usize);
            let mut index = SpatialIndex::new(w, h, cell).unwrap();
            let mut truth: BTreeMap<u32, (i32, i32)> = BTreeMap::new();
            let mut out = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(s, x, y) => {
                        let res = index.insert(s, x, y);
                        prop_assert_eq!(res.is_ok(), !truth.contains_key(&s));
                        truth.entry(s).or_insert((x, y));
                    }
                    Op::Remove(s) => prop_assert_eq!(index.remove(s), truth.remove(&s)),
                    Op::Step(s, dx, dy) => {
                        if let Some(&(x, y)) = truth.get(&s) {
                            let (nx, ny) = (x + dx, y + dy);
                            let ok = index.move_to(s, nx, ny).is_ok();
                            let inside = nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h;
                            prop_assert_eq!(ok, inside);
                            if inside { truth.insert(s, (nx, ny)); }
                        } else {
                            prop_assert!(index.move_to(s, 0, 0).is_err());
                        }
                    }
                    Op::Teleport(s, x, y) => {
                        if truth.contains_key(&s) {
                            index.move_to(s, x, y).unwrap();
                            truth.insert(s, (x, y));
                        }
                    }
                    Op::Query(x, y, r) => {
                        index.query(x, y, r, &mut out);
                        let expected: Vec<u32> = truth.iter()
                            .filter(|(_, &(px, py))| (px - x).abs() <= r && (py - y).abs() <= r)
                            .map(|(&s, _)| s).collect();
                        prop_assert_eq!(&out, &expected);
                    }
                }
                prop_assert_eq!(index.len(), truth.len());
                if let Err(e) = index.check_invariants() { prop_assert!(false, "{}", e); }
            }
            for (s, x, y) in index.iter() {
                prop_assert_eq!(truth.get(&s), Some(&(x, y)));
                prop_assert!(index.occupancy(x, y) >= 1);
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(SpatialIndex::new(0, 5, 8).is_err());
        let mut idx = SpatialIndex::new(4, 4, 2).unwrap();
        assert!(idx.insert(0, 4, 0).is_err());
        idx.insert(0, 1, 1).unwrap();
        assert!(idx.insert(0, 2, 2).is_err());
        assert!(idx.move_to(0, -1, 0).is_err());
        assert_eq!(idx.position(0), Some((1, 1)));
        assert!(idx.move_to(7, 0, 0).is_err());
        assert_eq!(idx.remove(7), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn static_buckets_match_brute_force(
            cell in 1usize..10,
            points in proptest::collection::vec((-2i32..32, -2i32..22), 0..80),
            queries in proptest::collection::vec((-3i32..33, -3i32..23, 0i32..12), 1..20),
        ) {
            let index = StaticBuckets::new(30, 20, cell, &points).unwrap();
            for (qx, qy, r) in queries {
                let mut got = Vec::new();
                index.for_each_near(qx, qy, r, |id, x, y| {
                    assert_eq!(points[id as usize], (x, y));
                    got.push(id);
                });
                got.sort_unstable();
                let want: Vec<u32> = points
                    .iter()
                    .enumerate()
                    .filter(|(_, &(x, y))| {
                        (0..30).contains(&x) && (0..20).contains(&y) && (x - qx).abs() <= r && (y - qy).abs() <= r
                    })
                    .map(|(i, _)| i as u32)
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
