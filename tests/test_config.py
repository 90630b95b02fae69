"""The config file: a good one loads; a bad one stops the start naming file, place
and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config, load_settings
from gateway.errors import ConfigError

GOOD = """
providers:
  openai:
    type: openai
    api_key_env: TEST_OPENAI_KEY
  local:
    type: openai-compatible
    base_url: http://127.0.0.1:11434/v1
models:
  fast:
    provider: openai
    model: gpt-4o-mini
  smart:
    strategy: least-in-flight
    targets:
      - [{provider: openai, model: gpt-4o, weight: 2}, {provider: local, model: llama3}]
      - provider: local
        model: llama3
        price: {input_per_mtok: 0, output_per_mtok: 0}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return str(path)


def test_good_config_loads_providers_routes_and_levels(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), {"TEST_OPENAI_KEY": "sk-test"})

    openai = config.providers["openai"].endpoint
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.api_key == "sk-test"
    assert "sk-test" not in repr(openai)
    assert config.providers["openai"].pricing_provider == "openai"
    smart = config.routes["smart"]
    assert smart.strategy == "least-in-flight"
    assert [[t.id for t in level] for level in smart.levels] == [
        ["openai/gpt-4o", "local/llama3"],
        ["local/llama3"],
    ]
    assert smart.levels[0][0].weight == 2
    assert smart.levels[1][0].price.input_per_mtok == 0
    assert "demo" in config.routes


@pytest.mark.parametrize(
    ("text", "env", "place", "problem"),
    [
        ("providers: [1, 2]", {}, "providers", "Not a valid mapping"),
        (
            "providers:\n  x:\n    type: telepathy\n",
            {},
            "providers.x.type (line 3, column 11)",
            "Must be one of",
        ),
        (
            "providers:\n  x:\n    type: openai\n    api_key_env: NOPE_KEY\n",
            {},
            "providers.x.api_key_env",
            "NOPE_KEY is not set",
        ),
        (
            "providers:\n  x:\n    type: openai-compatible\n",
            {},
            "providers.x.base_url",
            "required",
        ),
        (
            "models:\n  fast:\n    provider: ghost\n    model: m\n",
            {},
            "models.fast.provider (line 3, column 15)",
            "unknown provider 'ghost'",
        ),
        (
            "models:\n  fast:\n    model: m\n",
            {},
            "models.fast",
            "both provider and model",
        ),
        (
            "models:\n  fast:\n    provider: demo\n    model: demo\n    weight: -1\n",
            {},
            "models.fast.weight",
            "greater than or equal to 0",
        ),
        (
            "models:\n  fast:\n    targets: [{provider: demo}]\n",
            {},
            "models.fast.targets.0.model",
            "Missing data",
        ),
        (
            "models:\n  fast:\n    targets: [[]]\n",
            {},
            "models.fast.targets.0",
            "needs at least one target",
        ),
        (
            "models:\n  fast:\n    targets:\n      - {provider: demo, model: demo}\n"
            "      - []\n",
            {},
            "models.fast.targets.1 (line 5, column 9)",
            "needs at least one target",
        ),
        ("colour: blue\n", {}, "colour", "Unknown field"),
        ("models: {fast: [unclosed\n", {}, "line 2", "expected"),
    ],
)
def test_bad_config_names_file_place_and_problem(
    tmp_path: Path, text: str, env: dict, place: str, problem: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env)

    message = caught.value.message
    assert message.startswith(f"config file {path}")
    assert place in message
    assert problem in message


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(str(tmp_path / "absent.yaml"), {})


def test_without_a_file_known_provider_keys_enable_their_models() -> None:
    config = load_config(None, {"OPENAI_API_KEY": "sk-x", "GROQ_API_KEY": "gsk_x"})

    assert config.find_route("gpt-4o-mini").targets[0].id == "openai/gpt-4o-mini"
    assert config.find_route("groq/llama-3.3-70b-versatile") is not None
    assert config.find_route("openai/gpt-5-new").targets[0].model == "gpt-5-new"
    assert config.routes["fast"].targets[0].id == "openai/gpt-4o-mini"
    assert config.find_route("anthropic/claude-sonnet-4-5") is None


def test_without_keys_only_demo_is_served() -> None:
    config = load_config(None, {})

    assert set(config.providers) == {"demo"}
    assert {t.provider for r in config.routes.values() for t in r.targets} == {"demo"}


def test_settings_come_from_the_environment_with_defaults() -> None:
    settings = load_settings({"PORT": "9000", "GATEWAY_DATABASE": "/tmp/x.db"})

    assert (settings.port, settings.database, settings.master_key) == (
        9000,
        "/tmp/x.db",
        None,
    )
    with pytest.raises(ConfigError, match="PORT='eighty' is not a valid int"):
        load_settings({"PORT": "eighty"})
