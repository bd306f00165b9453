"""Console dry run: the employment-loop controls against a live shard (seed 004).

Run from the repository root: `python scripts/console_dry_run.py`. The
setup block enables console auth for the session; the rest is the manual
command script of the dry run, unchanged.
"""

from pathlib import Path
from townlet.config import load_config
from townlet.console.handlers import ConsoleCommand, create_console_router
from townlet.core.sim_loop import SimulationLoop
from townlet.core.utils import policy_provider_name, telemetry_provider_name

config = load_config(Path("configs/examples/poc_hybrid.yaml"))
from townlet.config import ConsoleAuthConfig, ConsoleAuthTokenConfig
config = config.model_copy(
    update={
        "console_auth": ConsoleAuthConfig(
            enabled=True,
            require_auth_for_viewer=False,
            tokens=[
                ConsoleAuthTokenConfig(token="viewer-token", role="viewer"),
                ConsoleAuthTokenConfig(token="admin-token", role="admin"),
            ],
        )
    }
)
config.employment.enforce_job_loop = True
loop = SimulationLoop(config)
world = loop.world
router = create_console_router(
    loop.telemetry,
    world,
    policy=loop.policy,
    policy_provider=policy_provider_name(loop),
    telemetry_provider=telemetry_provider_name(loop),
    config=config,
)

# Step 1: Prime agents and advance sim.
for _ in range(20):
    loop.step()
print(router.dispatch(ConsoleCommand(name="telemetry_snapshot", args=(), kwargs={})))

# Step 2: Enqueue employment exits.
world.employment.enqueue_exit(world, "agent_0", world.tick)
print(router.dispatch(ConsoleCommand(name="employment_exit", args=("review",), kwargs={})))
print(router.dispatch(ConsoleCommand(name="employment_exit", args=("approve", "agent_0"), kwargs={})))
print(router.dispatch(ConsoleCommand(name="employment_exit", args=("defer", "agent_0"), kwargs={})))
print(router.dispatch(ConsoleCommand(name="employment_status", args=(), kwargs={})))

print("=== latest console_results ===")
print(loop.telemetry.latest_console_results())

print("=== console audit tail ===")
audit_path = Path("logs/console/commands.jsonl")
if audit_path.exists():
    print(audit_path.read_text().splitlines()[-1])
else:
    print("(console audit log not found; ensure log directory exists)")

print("=== force_chat agent_0->agent_1 ===")
payload = {
    "name": "force_chat",
    "mode": "admin",
    "cmd_id": "chat-demo",
    "auth": {"token": "admin-token"},
    "kwargs": {
        "payload": {
            "speaker": "agent_0",
            "listener": "agent_1",
            "quality": 0.75,
        }
    },
}
loop.telemetry.queue_console_command(payload)
loop.step()
print(loop.telemetry.latest_console_results()[-1])

# Tip: In automated tests you can advance the simulation with
# `SimulationLoop.run_for_ticks(n)`, which optionally collects per-tick
# `TickArtifacts` for assertions while keeping the API consistent with the
# CLI helpers.
