"""The servers a run compares, as a table.

Each entry says how to install the server, how to launch it against an upstream, how
to get the bearer token a client sends, and which extra headers a request carries.
Adding a server is one more ServerSpec in SERVERS and its launch function.
"""

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import install
from .errors import BenchError
from .machine import command_output, git_revision, package_versions
from .probe import require_free_port, wait_for_ok, wait_for_port
from .processes import ProcessGroups, Running
from .upstreams import Upstream

HARNESS_DIR = Path(__file__).resolve().parent
REQUEST_BODY = (HARNESS_DIR / "payloads" / "request.json").read_bytes()
UPSTREAM_KEY = "sk-bench-upstream-not-a-secret"
MASTER_KEY = "sk-bench-master-not-a-secret"


@dataclass
class Context:
    """What launch functions need from the run."""

    repo: Path
    tmp: Path
    logs: Path
    bench_python: Path
    log: Callable[[str], None]
    starts: int = 0


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def command(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{env} {' '.join(self.argv)}".strip()


@dataclass(frozen=True)
class ServerSpec:
    name: str
    title: str
    port: int | None
    ready_timeout_s: float
    install: Callable[[Context], None]
    launch: Callable[[Context, Upstream], Launch] | None
    credential: Callable[[Context, Launch], str]
    headers: Callable[[Upstream], dict[str, str]]
    versions: Callable[[Context], dict[str, str]]


@dataclass
class Instance:
    """A server ready for load: where to send requests and which tree to measure."""

    spec: ServerSpec
    url: str
    headers: dict[str, str]
    tree_root: int
    process: Running | None
    command: str


def start_server(
    spec: ServerSpec, ctx: Context, groups: ProcessGroups, upstream: Upstream
) -> Instance:
    """Launch spec against upstream and wait until a real request answers 200."""
    if spec.launch is None:
        headers = {"Authorization": f"Bearer {UPSTREAM_KEY}", **spec.headers(upstream)}
        wait_for_ok(upstream.chat_url, REQUEST_BODY, headers, None, timeout=10)
        command = " ".join(upstream.process.argv)
        return Instance(
            spec, upstream.chat_url, headers, upstream.process.pid, None, command
        )

    require_free_port(spec.port, spec.name)
    ctx.starts += 1
    launch = spec.launch(ctx, upstream)
    log_path = ctx.logs / f"server-{spec.name}-{ctx.starts:02d}-{upstream.name}.log"
    process = groups.start(spec.name, launch.argv, log_path, launch.env, launch.cwd)
    try:
        wait_for_port(spec.port, process, spec.ready_timeout_s)
        token = spec.credential(ctx, launch)
        headers = {"Authorization": f"Bearer {token}", **spec.headers(upstream)}
        url = f"http://127.0.0.1:{spec.port}/v1/chat/completions"
        wait_for_ok(url, REQUEST_BODY, headers, process, spec.ready_timeout_s)
    except BaseException:
        groups.stop(process)
        raise

    return Instance(spec, url, headers, process.pid, process, launch.command())


def no_install(ctx: Context) -> None:
    pass


def no_headers(upstream: Upstream) -> dict[str, str]:
    return {}


def upstream_key(ctx: Context, launch: Launch) -> str:
    return UPSTREAM_KEY


def master_key(ctx: Context, launch: Launch) -> str:
    return MASTER_KEY


# ours: started the way `make run` starts it.

OURS_PORT = 18100


def ours_config(ctx: Context, upstream: Upstream) -> dict[str, str]:
    """Config file, fresh database and environment for one start of our gateway."""
    folder = ctx.tmp / f"ours-{ctx.starts:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "gateway.yaml"
    config.write_text(
        "providers:\n"
        "  upstream:\n"
        "    type: openai-compatible\n"
        f"    base_url: {upstream.base_url}\n"
        "    api_key_env: BENCH_UPSTREAM_KEY\n"
        "models:\n"
        "  gpt-4o-mini:\n"
        "    provider: upstream\n"
        "    model: gpt-4o-mini\n"
    )
    return {
        "PORT": str(OURS_PORT),
        "GATEWAY_CONFIG": str(config),
        "GATEWAY_DATABASE": str(folder / "gateway.db"),
        "GATEWAY_MASTER_KEY": MASTER_KEY,
        "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
    }


def launch_ours(ctx: Context, upstream: Upstream) -> Launch:
    return Launch(["make", "-s", "run"], ours_config(ctx, upstream), ctx.repo)


def ours_cli(ctx: Context) -> list[str]:
    return [str(ctx.repo / ".venv" / "bin" / "gateway")]


def create_key(ctx: Context, launch: Launch, cli: list[str]) -> str:
    """A virtual key from `gateway keys create --name bench --json`."""
    argv = [*cli, "keys", "create", "--name", "bench", "--json"]
    completed = subprocess.run(
        argv,
        env={**os.environ, **launch.env},
        cwd=launch.cwd or ctx.repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        return json.loads(completed.stdout)["key"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(
            f"`{' '.join(argv)}` gave no JSON with a `key` field "
            f"(exit {completed.returncode}):\n{completed.stdout}{completed.stderr}"
        ) from exc


def ours_key(ctx: Context, launch: Launch) -> str:
    return create_key(ctx, launch, ours_cli(ctx))


def ours_versions(ctx: Context) -> dict[str, str]:
    python = ctx.repo / ".venv" / "bin" / "python"
    names = ["ai-gateway", "Flask", "gunicorn", "gevent", "geventhttpclient", "orjson"]
    found = package_versions(python, names)
    interpreter = command_output([str(python), "--version"])
    return {
        "ours: commit": git_revision(ctx.repo),
        "ours: packages": ", ".join(f"{k} {v}" for k, v in found.items()),
        "ours: Python": interpreter.replace("Python ", ""),
    }


# The stand-in replaces ours in --self-test only: it is not our gateway.


def launch_standin(ctx: Context, upstream: Upstream) -> Launch:
    argv = [str(ctx.bench_python), "-m", "bench.harness.standin", "serve"]
    return Launch(argv, ours_config(ctx, upstream), ctx.repo)


def standin_key(ctx: Context, launch: Launch) -> str:
    return create_key(
        ctx, launch, [str(ctx.bench_python), "-m", "bench.harness.standin"]
    )


def standin_versions(ctx: Context) -> dict[str, str]:
    names = ["Flask", "gunicorn", "gevent", "requests"]
    found = package_versions(ctx.bench_python, names)
    return {"stand-in: packages": ", ".join(f"{k} {v}" for k, v in found.items())}


def standin_spec() -> ServerSpec:
    """`ours` with the stand-in gateway, for checking the harness itself."""
    return replace(
        SERVERS["ours"],
        title="stand-in for ours (self-test)",
        ready_timeout_s=60,
        launch=launch_standin,
        credential=standin_key,
        versions=standin_versions,
    )


# Portkey's gateway on Node.

PORTKEY_PORT = 18120
LOOPBACK_PRELOAD = HARNESS_DIR.parent / "peers" / "portkey" / "loopback.cjs"


def install_portkey(ctx: Context) -> None:
    install.ensure_portkey(ctx.log)


def launch_portkey(ctx: Context, upstream: Upstream) -> Launch:
    script = install.ensure_portkey(ctx.log)
    argv = ["node", "--require", str(LOOPBACK_PRELOAD), str(script)]
    return Launch([*argv, f"--port={PORTKEY_PORT}", "--headless"])


def portkey_headers(upstream: Upstream) -> dict[str, str]:
    # Localhost is in Portkey's default TRUSTED_CUSTOM_HOSTS, so no setting is needed.
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream.base_url}


def portkey_versions(ctx: Context) -> dict[str, str]:
    return {"Portkey": f"@portkey-ai/gateway {install.portkey_version()} (npm ci)"}


# LiteLLM's proxy.

LITELLM_PORT = 18110


def install_litellm(ctx: Context) -> None:
    install.ensure_litellm(ctx.log)


def launch_litellm(ctx: Context, upstream: Upstream) -> Launch:
    command = install.ensure_litellm(ctx.log)
    config = ctx.tmp / f"litellm-{upstream.name}.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: {upstream.base_url}\n"
        "      api_key: os.environ/BENCH_UPSTREAM_KEY\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    argv = [str(command), "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(LITELLM_PORT), "--num_workers", "1"]
    # The local cost map only skips a download at start that fails offline.
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "BENCH_UPSTREAM_KEY": UPSTREAM_KEY}
    return Launch(argv, env)


def litellm_versions(ctx: Context) -> dict[str, str]:
    requirements = install.PEERS_DIR / "litellm" / "requirements.txt"
    pins = [
        f"{name} {install.pinned_version(requirements, name)}"
        for name in ("litellm", "uvicorn", "fastapi", "aiohttp")
    ]
    return {"LiteLLM": ", ".join(pins) + " (litellm[proxy], pip)"}


def direct_versions(ctx: Context) -> dict[str, str]:
    found = package_versions(ctx.bench_python, ["uvloop"])
    return {"slow upstream": f"asyncio + uvloop {found['uvloop']}"}


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            name="direct",
            title="upstream, called directly",
            port=None,
            ready_timeout_s=10,
            install=no_install,
            launch=None,
            credential=upstream_key,
            headers=no_headers,
            versions=direct_versions,
        ),
        ServerSpec(
            name="ours",
            title="ours (make run)",
            port=OURS_PORT,
            # The first `make run` builds .venv before the gateway starts.
            ready_timeout_s=900,
            install=no_install,
            launch=launch_ours,
            credential=ours_key,
            headers=no_headers,
            versions=ours_versions,
        ),
        ServerSpec(
            name="portkey",
            title="Portkey gateway",
            port=PORTKEY_PORT,
            ready_timeout_s=60,
            install=install_portkey,
            launch=launch_portkey,
            credential=upstream_key,
            headers=portkey_headers,
            versions=portkey_versions,
        ),
        ServerSpec(
            name="litellm",
            title="LiteLLM proxy",
            port=LITELLM_PORT,
            ready_timeout_s=240,
            install=install_litellm,
            launch=launch_litellm,
            credential=master_key,
            headers=no_headers,
            versions=litellm_versions,
        ),
    )
}
