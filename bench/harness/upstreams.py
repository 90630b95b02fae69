"""The two fake upstreams every server is pointed at.

fast: nginx with one worker returning a fixed chat.completion body at once, with
keep-alive kept open for a million requests so no proxy's pool is reset.
slow: slow_upstream.py answering the same body after `delay_s`, on one event loop.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import BenchError
from .probe import require_free_port, wait_for_port
from .processes import ProcessGroups, Running

HARNESS_DIR = Path(__file__).resolve().parent
RESPONSE_FILE = HARNESS_DIR / "payloads" / "response.json"
NGINX_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{
    worker_connections 10000;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


@dataclass
class Upstream:
    """A running fake upstream."""

    name: str
    port: int
    delay_s: float
    process: Running

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"


def render_nginx_config(tmp: Path, port: int, body: str) -> str:
    """nginx.conf answering every request with body; raises if body breaks quoting."""
    if "$" in body or "\n" in body:
        raise BenchError("response.json must be one line without '$' for nginx")

    quoted = body.replace("\\", "\\\\").replace("'", "\\'")
    return NGINX_CONFIG.format(tmp=tmp, port=port, body=quoted)


def start_fast(groups: ProcessGroups, port: int, tmp: Path, logs: Path) -> Upstream:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    require_free_port(port, "the fast upstream (nginx)")
    tmp.mkdir(parents=True, exist_ok=True)
    body = RESPONSE_FILE.read_text().strip()
    config = tmp / "nginx.conf"
    config.write_text(render_nginx_config(tmp, port, body))

    argv = [nginx, "-p", str(tmp), "-c", str(config), "-e", str(tmp / "startup.log")]
    process = groups.start("fast upstream (nginx)", argv, logs / "upstream-fast.log")
    wait_for_port(port, process, timeout=10)
    return Upstream("fast", port, 0.0, process)


def start_slow(
    groups: ProcessGroups, port: int, delay_s: float, python: Path, logs: Path
) -> Upstream:
    require_free_port(port, "the slow upstream")
    script = HARNESS_DIR / "slow_upstream.py"
    argv = [str(python), str(script), str(port), str(delay_s), str(RESPONSE_FILE)]
    process = groups.start("slow upstream", argv, logs / "upstream-slow.log")
    wait_for_port(port, process, timeout=10)
    return Upstream("slow", port, delay_s, process)
