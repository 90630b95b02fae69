"""The Docker packaging, checked without Docker (none runs where it was written).

docker-compose.yml is loaded as YAML, its ``${VAR:-default}`` values resolved as
Compose would, and the gateway service's environment is read by the gateway's own
settings and config loaders. Each Dockerfile is read instruction by instruction:
what it installs and runs, and that every COPY source exists in the build context
and is not left out by that build's ignore file.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load_config, load_settings
from tests.n8n.install import N8N_VERSION

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GATEWAY_DOCKERFILE = ROOT / "Dockerfile"
N8N_DOCKERFILE = ROOT / "n8n-nodes" / "docker" / "Dockerfile"
SETUP_SCRIPT = ROOT / "n8n-nodes" / "docker" / "setup.js"
# A Dockerfile's own ignore file (BuildKit) wins over the context's .dockerignore.
IGNORE_FILES = {
    GATEWAY_DOCKERFILE: ROOT / ".dockerignore",
    N8N_DOCKERFILE: N8N_DOCKERFILE.with_name("Dockerfile.dockerignore"),
}
MASTER_KEY = "${GATEWAY_MASTER_KEY:-change-me}"
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?P<form>:-|-)?(?P<default>[^}]*)\}")


def resolve(value: Any, environ: dict[str, str]) -> str:
    """A Compose value with ``${VAR}``, ``${VAR-default}``, ``${VAR:-default}``
    replaced from ``environ``."""

    def substitute(match: re.Match[str]) -> str:
        name, form = match["name"], match["form"]
        if form == ":-" and not environ.get(name):
            return match["default"]
        if form == "-" and name not in environ:
            return match["default"]
        return environ.get(name, "")

    return VARIABLE.sub(substitute, str(value))


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service_environment(
    name: str, environ: dict[str, str] | None = None
) -> dict[str, str]:
    raw = compose()["services"][name]["environment"]
    return {key: resolve(value, environ or {}) for key, value in raw.items()}


def read_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined."""
    instructions = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + line.strip()).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""

    return instructions


def arguments_of(path: Path, keyword: str) -> list[str]:
    return [args for name, args in read_dockerfile(path) if name == keyword]


def copy_sources(path: Path) -> list[str]:
    """The build-context paths the Dockerfile's COPY instructions read."""
    sources = []
    for arguments in arguments_of(path, "COPY"):
        words = arguments.split()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])

    return sources


def ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent
    folders decides; a ``!`` pattern takes the path back in."""
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        regex = _pattern_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not pattern.startswith("!")

    return ignored


def test_compose_runs_the_gateway_and_n8n_with_a_named_volume_each() -> None:
    document = compose()

    assert set(document["services"]) == {"gateway", "n8n"}
    assert set(document["volumes"]) == {"gateway-data", "n8n-data"}
    assert document["services"]["gateway"]["volumes"][0] == "gateway-data:/data"
    assert document["services"]["n8n"]["volumes"] == ["n8n-data:/home/node/.n8n"]


def test_gateway_service_starts_on_demo_with_no_settings_given() -> None:
    service = compose()["services"]["gateway"]
    environ = service_environment("gateway")

    settings = load_settings(environ)
    config = load_config(settings.config_path, environ)

    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.database == "/data/gateway.db"
    assert service["ports"] == [f"127.0.0.1:{settings.port}:{settings.port}"]
    assert settings.master_key == "change-me"
    assert settings.config_path is None
    assert [target.provider for target in config.routes["fast"].targets] == ["demo"]


def test_gateway_service_takes_the_master_key_and_config_from_the_environment() -> None:
    environ = {"GATEWAY_MASTER_KEY": "a-long-random-key", "GATEWAY_CONFIG": "/c.yaml"}

    settings = load_settings(service_environment("gateway", environ))

    assert settings.master_key == "a-long-random-key"
    assert settings.config_path == "/c.yaml"


def test_both_services_share_the_master_key_and_its_placeholder_is_documented() -> None:
    services = compose()["services"]

    assert services["gateway"]["environment"]["GATEWAY_MASTER_KEY"] == MASTER_KEY
    assert services["n8n"]["environment"]["AI_GATEWAY_MASTER_KEY"] == MASTER_KEY
    assert '"change-me" is a placeholder' in COMPOSE_FILE.read_text()
    assert "change me" in COMPOSE_FILE.read_text()


def test_n8n_service_waits_for_the_healthy_gateway_and_reaches_it_by_name() -> None:
    service = compose()["services"]["n8n"]
    environ = service_environment("n8n")
    setup = SETUP_SCRIPT.read_text()

    assert service["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    assert environ["AI_GATEWAY_URL"] == "http://gateway:8080"
    assert service["ports"] == ["5678:5678"]
    for name in environ:
        if name.startswith("AI_GATEWAY_"):
            assert f"env.{name}" in setup, f"setup.js does not read {name}"


@pytest.mark.parametrize(
    "service, dockerfile",
    [("gateway", GATEWAY_DOCKERFILE), ("n8n", N8N_DOCKERFILE)],
)
def test_compose_builds_each_image_from_the_repository_root(
    service: str, dockerfile: Path
) -> None:
    build = compose()["services"][service]["build"]
    if isinstance(build, str):
        build = {"context": build}

    assert (ROOT / build["context"]).resolve() == ROOT
    assert ROOT / build.get("dockerfile", "Dockerfile") == dockerfile


def test_gateway_image_installs_the_pinned_requirements_then_the_service() -> None:
    instructions = read_dockerfile(GATEWAY_DOCKERFILE)
    runs = " ".join(args for name, args in instructions if name == "RUN")
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]

    assert arguments_of(GATEWAY_DOCKERFILE, "FROM") == ["python:3.11-slim"]
    assert all("==" in line for line in pins), "requirements.txt is not fully pinned"
    assert copy_sources(GATEWAY_DOCKERFILE) == ["requirements.txt", "service/"]
    assert runs.index("pip install -r requirements.txt") < runs.index(
        "pip install --no-deps ./service"
    )


def test_gateway_image_serves_what_compose_expects() -> None:
    environ = service_environment("gateway")
    settings = {}
    for arguments in arguments_of(GATEWAY_DOCKERFILE, "ENV"):
        settings.update(pair.split("=", 1) for pair in arguments.split())
    [healthcheck] = arguments_of(GATEWAY_DOCKERFILE, "HEALTHCHECK")
    [command] = arguments_of(GATEWAY_DOCKERFILE, "CMD")
    pyproject = tomllib.loads((ROOT / "service" / "pyproject.toml").read_text())

    for name in ("GATEWAY_HOST", "PORT", "GATEWAY_DATABASE"):
        assert settings[name] == environ[name]
    assert arguments_of(GATEWAY_DOCKERFILE, "EXPOSE") == [environ["PORT"]]
    assert arguments_of(GATEWAY_DOCKERFILE, "VOLUME") == ["/data"]
    assert "/healthz" in healthcheck
    assert json.loads(command) == ["gateway", "serve"]
    assert "gateway" in pyproject["project"]["scripts"]


def test_n8n_image_is_the_n8n_the_tests_run() -> None:
    final_stage = arguments_of(N8N_DOCKERFILE, "FROM")[-1]

    assert final_stage == f"docker.n8n.io/n8nio/n8n:{N8N_VERSION}"


@pytest.mark.parametrize(
    "dockerfile", sorted(IGNORE_FILES), ids=lambda path: str(path.relative_to(ROOT))
)
def test_every_copy_source_is_in_the_build_context(dockerfile: Path) -> None:
    patterns = ignore_patterns(IGNORE_FILES[dockerfile])

    for source in copy_sources(dockerfile):
        path = ROOT / source
        assert path.exists(), f"{dockerfile.name}: COPY {source} does not exist"
        files = [path] if path.is_file() else list(path.rglob("*"))
        kept = [
            f
            for f in files
            if f.is_file() and not is_ignored(str(f.relative_to(ROOT)), patterns)
        ]
        assert kept, f"{dockerfile.name}: COPY {source} is left out of the context"


@pytest.mark.parametrize(
    "path, ignored",
    [
        ("requirements.txt", False),
        ("service/pyproject.toml", False),
        ("service/gateway/app.py", False),
        ("service/gateway/__pycache__/app.cpython-311.pyc", True),
        ("service/ai_gateway.egg-info/PKG-INFO", True),
        ("tests/conftest.py", True),
        ("n8n-nodes/package.json", True),
        (".venv/bin/python", True),
        ("var/gateway.db", True),
    ],
)
def test_gateway_build_context_holds_only_requirements_and_service(
    path: str, ignored: bool
) -> None:
    assert is_ignored(path, ignore_patterns(ROOT / ".dockerignore")) is ignored
