from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet.config import (
    ConsoleAuthConfig,
    ConsoleAuthTokenConfig,
    SimulationConfig,
    config_from_mapping,
    dump_config,
    load_config,
)
from townlet.errors import ConfigError

from .conftest import EXAMPLES


@pytest.mark.parametrize("name", ["poc_hybrid", "poc_full", "poc_compact"])
def test_examples_load(name: str) -> None:
    config = load_config(EXAMPLES / f"{name}.yaml")
    assert config.observation_variant == name.removeprefix("poc_")
    assert config.employment.enforce_job_loop is True
    assert config.world.population == 8
    assert config.resolve_path(config.world.layout).is_file()
    assert config.resolve_path(config.affordances.manifest).is_file()


def _messages(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_unknown_key_names_path_allowed_keys_and_line(write_config, poc_text: str) -> None:
    path = write_config(poc_text.replace("  grace_ticks: 60", "  grace_tick: 60"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (msg,) = _messages(exc)
    line = poc_text.splitlines().index("  grace_ticks: 60") + 1
    assert msg.startswith("employment.grace_tick: unknown key 'grace_tick'; allowed keys: enforce_job_loop,")
    assert "grace_ticks" in msg
    assert msg.endswith(f"(at {path}:{line})")


def test_out_of_range_names_the_range_and_value(write_config, poc_text: str) -> None:
    path = write_config(poc_text.replace("  queue_limit: 8", "  queue_limit: 0"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (msg,) = _messages(exc)
    assert msg.startswith("employment.queue_limit: ")
    assert "allowed range [1, 10000]" in msg
    assert "got 0" in msg


def test_wrong_type(write_config, poc_text: str) -> None:
    path = write_config(poc_text.replace("  population: 8", "  population: lots"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (msg,) = _messages(exc)
    assert msg.startswith("world.population: Input should be a valid integer")
    assert "got 'lots'" in msg


def test_literal_lists_allowed_values(write_config, poc_text: str) -> None:
    path = write_config(poc_text.replace("    observations: hybrid", "    observations: tiny"))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (msg,) = _messages(exc)
    assert msg.startswith("features.systems.observations: Input should be 'full', 'hybrid' or 'compact'")


def test_several_problems_reported_together(write_config, poc_text: str) -> None:
    text = poc_text.replace("  queue_limit: 8", "  queue_limit: -1").replace("  seed: 42", "  seed: -3")
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(text))
    paths = sorted(p.path for p in exc.value.problems)
    assert paths == ["employment.queue_limit", "world.seed"]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("config_id: v1\nworld:\n  population: [1, 2\n  seed: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (problem,) = exc.value.problems
    assert problem.path.startswith(f"{path}:")
    assert int(problem.path.rsplit(":", 1)[1]) >= 3
    assert problem.message.startswith("malformed YAML")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_top_level_must_be_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_missing_config_id(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("world: {population: 3}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert next(str(p) for p in exc.value.problems).startswith("config_id: required key is missing")


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="absence_exit_threshold 9 exceeds the 7-day attendance window"):
        config_from_mapping({"config_id": "x", "employment": {"absence_exit_threshold": 9}})
    with pytest.raises(ConfigError, match="spawn_delay_min 30 exceeds spawn_delay_max 20"):
        config_from_mapping({"config_id": "x", "lifecycle": {"spawn_delay_min": 30}})
    with pytest.raises(ConfigError, match="sum to 1"):
        config_from_mapping({"config_id": "x", "economy": {"weather": {"probabilities": {"sunny": 0.5}}}})
    with pytest.raises(ConfigError, match="smaller than the pain of one skipped meal"):
        config_from_mapping({"config_id": "x", "rewards": {"punctuality": {"bonus": 0.9}}})


def test_tcp_plaintext_rules() -> None:
    base = {"config_id": "x"}
    tls = {"type": "tcp", "endpoint": "telemetry.example:9000"}
    assert config_from_mapping({**base, "telemetry": {"transport": tls}}).telemetry.transport.enable_tls
    plain = {**tls, "enable_tls": False}
    with pytest.raises(ConfigError, match="plaintext TCP needs both"):
        config_from_mapping({**base, "telemetry": {"transport": plain}})
    flags = {**plain, "allow_plaintext": True, "dev_allow_plaintext": True}
    with pytest.raises(ConfigError, match="only allowed to a loopback host"):
        config_from_mapping({**base, "telemetry": {"transport": flags}})
    ok = {**flags, "endpoint": "127.0.0.1:9000"}
    assert not config_from_mapping({**base, "telemetry": {"transport": ok}}).telemetry.transport.enable_tls


def test_seed_style_edits(poc_text: str) -> None:
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    config.employment.enforce_job_loop = False
    assert config.employment.enforce_job_loop is False
    updated = config.model_copy(
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
    assert updated.console_auth.enabled
    assert "admin-token" not in repr(updated)
    assert updated.console_auth.tokens[1].resolve() == "admin-token"


def test_refused_assignment_changes_nothing() -> None:
    config = SimulationConfig(config_id="x")
    with pytest.raises(ConfigError, match="absence_exit_threshold: absence_exit_threshold 8 exceeds"):
        config.employment.absence_exit_threshold = 8
    assert config.employment.absence_exit_threshold == 3
    with pytest.raises(ConfigError, match=r"queue_limit: .*allowed range \[1, 10000\]"):
        config.employment.queue_limit = 0
    assert config.employment.queue_limit == 8


def test_token_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of token"):
        ConsoleAuthTokenConfig(role="admin")
    monkeypatch.setenv("TOWNLET_TEST_TOKEN", "from-the-env")
    assert ConsoleAuthTokenConfig(token_env="TOWNLET_TEST_TOKEN").resolve() == "from-the-env"
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    assert ConsoleAuthTokenConfig(token_file=str(secret)).resolve() == "from-a-file"
    with pytest.raises(ValueError, match="NOPE_NOT_SET is not set"):
        ConsoleAuthTokenConfig(token_env="NOPE_NOT_SET").resolve()
    with pytest.raises(ConfigError, match="no tokens are configured"):
        config_from_mapping({"config_id": "x", "console_auth": {"enabled": True}})


def test_on_off_accepts_yaml_booleans() -> None:
    config = config_from_mapping(yaml.safe_load("config_id: x\nfeatures: {systems: {lifecycle: off}}\n"))
    assert config.features.systems.lifecycle == "off"


def test_identity_digest() -> None:
    a = SimulationConfig(config_id="a")
    b = SimulationConfig(config_id="b")
    assert a.behaviour_digest() == b.behaviour_digest()  # config_id is declared, not derived
    b.telemetry.transport.type = "stdout"
    b.console_auth.require_auth_for_viewer = False
    assert a.behaviour_digest() == b.behaviour_digest()  # operational sections do not count
    b.features.systems.observations = "full"
    assert a.behaviour_digest() != b.behaviour_digest()  # the variant is part of identity
    assert a.behaviour_digest("m1") != a.behaviour_digest("m2")
    assert b.identity().as_dict()["observation_variant"] == "full"
    with pytest.raises(ConfigError, match="observation variant is 'full', expected 'hybrid'"):
        b.require_observation_variant("hybrid")


_values = st.fixed_dictionaries(
    {
        "population": st.integers(1, 100_000),
        "seed": st.integers(0, 2**63 - 1),
        "grace": st.integers(0, 10_000),
        "hunger": st.floats(0.0, 0.1, allow_nan=False),
        "variant": st.sampled_from(["full", "hybrid", "compact"]),
        "lifecycle": st.sampled_from(["on", "off"]),
        "window": st.integers(9, 12),
        "cap": st.integers(0, 1000),
        "token": st.text(alphabet="abcdefghijklmnop0123456789-", min_size=8, max_size=40),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_values)
def test_yaml_round_trip(tmp_path: Path, values: dict[str, object]) -> None:
    config = config_from_mapping(
        {
            "config_id": "rt",
            "world": {"population": values["population"], "seed": values["seed"]},
            "employment": {"grace_ticks": values["grace"]},
            "rewards": {"decay_rates": {"hunger": values["hunger"]}},
            "features": {"systems": {"observations": values["variant"], "lifecycle": values["lifecycle"]}},
            "observations": {"local_window": values["window"]},
            "lifecycle": {"max_exits_per_day": values["cap"]},
            "console_auth": {"enabled": True, "tokens": [{"token": values["token"], "role": "admin"}]},
        }
    )
    path = tmp_path / "rt.yaml"
    path.write_text(dump_config(config))
    again = load_config(path)
    assert again.model_dump() == config.model_dump()
    assert again.console_auth.tokens[0].resolve() == values["token"]
    assert again.behaviour_digest() == config.behaviour_digest()
