"""The ``arrange_meet`` admin command: bring two agents together at a venue for a while.

```
arrange_meet AGENT OTHER [VENUE] [TICKS]        kwargs: agent_id, other, venue, ticks, option
```

Both agents move onto two free tiles beside the same object of ``VENUE``
(default: the town's first park; benches first) and are held there with an
option (``socialise`` at a park, so they take a bench together; ``wait``
elsewhere; ``option=...`` picks another) for ``TICKS`` ticks (default
:data:`DEFAULT_MEET_TICKS`, at most a day). Then they go back to their
policy. The meet also ends early when either agent exits or an operator
releases either of them. See :mod:`townlet.world.meets` for the events.

Errors: ``E_NOT_FOUND`` (no such agent or venue), ``E_INVALID_ARG`` (the
same agent twice, a home venue, ticks out of range, an unknown option),
``E_BUSY_TARGET`` (an agent already possessed or in a meet, or no room at the
venue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townlet import _core
from townlet.console.command import (
    E_BLOCKED_TILE,
    E_BUSY_TARGET,
    E_INVALID_ARG,
    E_NOT_FOUND,
    ConsoleCommand,
    ConsoleCommandError,
)
from townlet.console.params import int_param, param, str_param
from townlet.errors import InvalidArgumentError

if TYPE_CHECKING:
    from townlet.console.router import ConsoleRouter
    from townlet.world.layout import Venue
    from townlet.world.state import WorldState

#: How long a meet lasts when the command does not say.
DEFAULT_MEET_TICKS = 60
HELP = "arrange_meet AGENT_ID OTHER [VENUE] [TICKS] [option=...]: hold two agents together at a venue"


class ArrangeMeet:
    """The handler, bound to one town."""

    def __init__(self, world: WorldState) -> None:
        """Handles ``arrange_meet`` for ``world`` (whose ``meets`` board keeps the meets)."""
        self.world = world

    def __call__(self, command: ConsoleCommand) -> dict[str, Any]:
        """Validates the arguments, starts the meet and describes it."""
        world = self.world
        agents = (str_param(command, 0, "agent_id"), str_param(command, 1, "other"))
        for agent in agents:
            if not world.has_agent(agent):
                raise ConsoleCommandError(E_NOT_FOUND, f"arrange_meet: no live agent {agent!r}")
        if agents[0] == agents[1]:
            raise ConsoleCommandError(E_INVALID_ARG, "arrange_meet: two different agents are needed")
        venue = self._venue(command)
        ticks = int_param(command, 3, "ticks", 1, world.config.world.ticks_per_day, DEFAULT_MEET_TICKS)
        option = param(command, 4, "option", "socialise" if venue.kind == "park" else "wait")
        if not isinstance(option, str) or option not in _core.OPTIONS:
            raise ConsoleCommandError(
                E_INVALID_ARG, f"arrange_meet: unknown option {option!r} ({', '.join(_core.OPTIONS)})"
            )
        for agent in agents:
            meet = world.meets.holding(agent)
            if meet is not None:
                raise ConsoleCommandError(
                    E_BUSY_TARGET,
                    f"arrange_meet: {agent!r} is already in {meet.meet_id} until tick {meet.until}",
                )
            if agent in world.possessed:
                raise ConsoleCommandError(
                    E_BUSY_TARGET, f"arrange_meet: {agent!r} is possessed by an operator; release it first"
                )
        tiles = world.meets.spot(world, venue)
        if tiles is None:
            raise ConsoleCommandError(E_BUSY_TARGET, f"arrange_meet: no room for two at {venue.id}")
        try:
            meet = world.meets.arrange(world, agents, venue, tiles, ticks, option)
        except InvalidArgumentError as exc:
            raise ConsoleCommandError(E_BLOCKED_TILE, f"arrange_meet: {exc}") from None
        return meet.as_dict()

    def _venue(self, command: ConsoleCommand) -> Venue:
        layout = self.world.layout
        name = param(command, 2, "venue", None)
        if name is None:
            parks = layout.venues_of("park")
            if not parks:
                raise ConsoleCommandError(E_NOT_FOUND, "arrange_meet: this town has no park; name a venue")
            return parks[0]
        for venue in layout.venues:
            if venue.id == name:
                if venue.kind == "home":
                    raise ConsoleCommandError(
                        E_INVALID_ARG, f"arrange_meet: {venue.id} is a home; pick a public venue"
                    )
                return venue
        public = ", ".join(v.id for v in layout.venues if v.kind != "home")
        raise ConsoleCommandError(E_NOT_FOUND, f"arrange_meet: no venue {name!r} (public venues: {public})")


def register_arrange_meet(router: ConsoleRouter, world: WorldState) -> None:
    """Adds the admin command ``arrange_meet`` to ``router``."""
    router.register("arrange_meet", ArrangeMeet(world), "admin", HELP)
