"""Type stubs for the Rust extension module ``townlet._core``."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["Precondition", "__version__", "distance_field", "precondition_facts"]

__version__: str

def distance_field(
    tiles: npt.NDArray[np.uint8],
    blocked: list[tuple[int, int]],
    sources: list[tuple[int, int]],
) -> npt.NDArray[np.uint16]:
    """Multi-source BFS distances over the walkable tiles of a layout."""

def precondition_facts() -> list[tuple[str, str, str, list[str], str]]:
    """Return the facts a precondition may read: ``(name, scope, type, enum_values, doc)``."""

@final
class Precondition:
    """A compiled precondition program, validated on construction."""

    def __new__(cls, codes: list[int], args: list[float]) -> Precondition: ...
    def eval(self, facts: list[float]) -> bool:
        """Evaluate against facts indexed by fact id."""
    def __len__(self) -> int: ...
    def facts_read(self) -> list[int]:
        """Fact ids the program reads, in instruction order."""
