"""The Python face of the town: layouts now, the core ``World`` wrapper later."""

from __future__ import annotations

from townlet.world.layout import Layout, PlacedObject, TileKind, Venue, load_layout

__all__ = ["Layout", "PlacedObject", "TileKind", "Venue", "load_layout"]
