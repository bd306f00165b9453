//! Maps core errors onto the exception classes of `townlet.errors`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use townlet_core::CoreError;

/// Converts a core error into the matching `townlet.errors` exception
/// (all of them `ValueError` subclasses). Falls back to `ValueError` if the
/// Python package cannot be imported.
pub fn to_pyerr(err: CoreError) -> PyErr {
    let class = match err {
        CoreError::InvalidArgument(_) => "InvalidArgumentError",
        CoreError::Shape { .. } => "ShapeError",
        CoreError::Layout(_) => "LayoutError",
        CoreError::Program(_) => "PreconditionError",
    };
    let message = err.to_string();
    Python::attach(|py| {
        py.import("townlet.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
            .map_or_else(
                |_| PyValueError::new_err(message.clone()),
                |cls| PyErr::from_type(cls, message.clone()),
            )
    })
}

/// Extension trait: `result.py()?` turns a core result into a Python one.
pub trait IntoPy<T> {
    /// Maps the error side through [`to_pyerr`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, CoreError> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}
