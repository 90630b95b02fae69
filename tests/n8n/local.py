"""Run n8n beside a local gateway without Docker, with the n8n the tests install.

``python -m tests.n8n.local`` installs (or reuses) Node 24 and n8n from the cache,
packs the node pack, prepares ``var/n8n`` with the pack's setup script (the Docker
entrypoint's: pack installed, credentials, example workflows) and starts n8n on
http://127.0.0.1:5678 in the foreground. The gateway must be running already
(``make run``); its master key is read from GATEWAY_MASTER_KEY or from the file
``gateway serve`` writes beside its database.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .install import InstallError, ensure_runtime
from .instance import N8n, N8nError
from .pack import REPOSITORY_ROOT, SETUP_SCRIPT, build_tarball, unpack_tarball


def master_key() -> str:
    if os.environ.get("GATEWAY_MASTER_KEY"):
        return os.environ["GATEWAY_MASTER_KEY"]

    database = Path(os.environ.get("GATEWAY_DATABASE", "var/gateway.db"))
    stored = (REPOSITORY_ROOT / database).resolve().parent / "master-key"
    if stored.exists():
        return stored.read_text().strip()
    raise SystemExit(
        f"No master key: set GATEWAY_MASTER_KEY or start the gateway once ({stored})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.n8n.local", description=__doc__
    )
    parser.add_argument("--gateway-url", default=None, help="default: 127.0.0.1:$PORT")
    parser.add_argument("--port", type=int, default=5678, help="n8n's port")
    parser.add_argument("--folder", default=str(REPOSITORY_ROOT / "var" / "n8n"))
    options = parser.parse_args(argv)

    gateway_url = options.gateway_url or (
        f"http://127.0.0.1:{os.environ.get('PORT', '8080')}"
    )
    folder = Path(options.folder).resolve()
    try:
        runtime = ensure_runtime()
        tarball = build_tarball(runtime, folder / "pack")
    except InstallError as exc:
        print(f"n8n setup failed at step '{exc.step}':\n{exc.detail}", file=sys.stderr)
        return 1

    # No fixed encryption key: n8n makes one in the user folder on first use.
    n8n = N8n(runtime, folder / "home", options.port, options.port + 1, None)
    settings = {
        "AI_GATEWAY_URL": gateway_url,
        "AI_GATEWAY_MASTER_KEY": master_key(),
        "AI_GATEWAY_PACK": str(unpack_tarball(tarball, folder / "pack")),
        "AI_GATEWAY_WORKFLOWS": str(REPOSITORY_ROOT / "workflows"),
    }
    try:
        n8n.run_setup(SETUP_SCRIPT, settings)
    except N8nError as exc:
        print(exc, file=sys.stderr)
        return 1

    print(f"n8n on http://127.0.0.1:{options.port} (user folder {n8n.home})")
    argv_n8n = [str(runtime.node_bin), str(runtime.n8n_bin), "start"]
    os.execve(argv_n8n[0], argv_n8n, n8n.env())


if __name__ == "__main__":
    sys.exit(main())
