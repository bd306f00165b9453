//! Grid helpers for layout validation: BFS distance fields.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;
use townlet_core::grid::Grid;
use townlet_core::CoreError;

use crate::errors::IntoPy;

fn cell(grid: &Grid, what: &str, (x, y): (i64, i64)) -> PyResult<usize> {
    let xi = i32::try_from(x).unwrap_or(-1);
    let yi = i32::try_from(y).unwrap_or(-1);
    grid.index(xi, yi)
        .ok_or_else(|| CoreError::InvalidArgument(format!("{what} ({x}, {y}) outside the grid")))
        .py()
}

/// Multi-source BFS distances over the walkable tiles of a layout.
///
/// `tiles` is a `(height, width)` uint8 array of tile codes; `blocked` lists
/// `(x, y)` tiles occupied by objects; `sources` lists `(x, y)` start tiles.
/// Returns a `(height, width)` uint16 array of step counts, 65535 where no
/// source is reachable.
#[pyfunction]
pub fn distance_field<'py>(
    py: Python<'py>,
    tiles: PyReadonlyArray2<'py, u8>,
    blocked: Vec<(i64, i64)>,
    sources: Vec<(i64, i64)>,
) -> PyResult<Bound<'py, PyArray2<u16>>> {
    let view = tiles.as_array();
    let (height, width) = view.dim();
    let codes: Vec<u8> = view.iter().copied().collect();
    let mut grid = Grid::new(width, height, &codes).py()?;
    for b in blocked {
        let idx = cell(&grid, "blocked tile", b)?;
        grid.set_blocked(idx, true);
    }
    let src = sources
        .into_iter()
        .map(|s| cell(&grid, "source", s))
        .collect::<PyResult<Vec<_>>>()?;
    let dist = py.detach(|| grid.distance_field(&src)).py()?;
    let arr = Array2::from_shape_vec((height, width), dist)
        .map_err(|e| CoreError::InvalidArgument(e.to_string()))
        .py()?;
    Ok(arr.into_pyarray(py))
}
