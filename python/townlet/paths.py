"""Locating bundled example configs and resolving config arguments."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_CONFIGS = PACKAGE_DIR / "configs"


def bundled_examples() -> list[str]:
    """Names of the example configs shipped inside the package."""
    return sorted(p.stem for p in (BUNDLED_CONFIGS / "examples").glob("*.yaml"))


def resolve_config_argument(value: str | Path) -> Path:
    """A config path as given, or a bundled example by name (``poc_hybrid``).

    Raises ``FileNotFoundError`` naming the bundled examples when neither exists.
    """
    path = Path(value)
    if path.exists():
        return path
    bundled = BUNDLED_CONFIGS / "examples" / f"{Path(str(value)).stem}.yaml"
    if path.suffix in ("", ".yaml", ".yml") and path.parent == Path(".") and bundled.exists():
        return bundled
    names = ", ".join(bundled_examples()) or "none"
    raise FileNotFoundError(f"config file not found (bundled examples: {names})")
