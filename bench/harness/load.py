"""Load from wrk, and what one wrk run measured.

wrk runs wrk_report.lua, which writes a JSON summary: wrk's own counters and latency
percentiles, responses by status, and a histogram of the overhead header.
"""

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import BenchError

HARNESS_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = HARNESS_DIR / "wrk_report.lua"
REQUEST_FILE = HARNESS_DIR / "payloads" / "request.json"
OVERHEAD_HEADER = "x-gateway-overhead-ms"


@dataclass(frozen=True)
class LoadSpec:
    """One wrk run: where, how many connections, how long."""

    url: str
    headers: dict[str, str]
    connections: int
    duration_s: int
    timeout_s: int

    @property
    def threads(self) -> int:
        return 1 if self.connections == 1 else 2

    def argv(self) -> list[str]:
        return [
            shutil.which("wrk") or "wrk",
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{self.duration_s}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            self.url,
        ]


def run_wrk(spec: LoadSpec, out_prefix: Path) -> tuple[dict, float]:
    """Run wrk to completion; return (its summary, CPU seconds wrk used)."""
    result_file = out_prefix.with_suffix(".json")
    result_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(REQUEST_FILE),
        "BENCH_RESULT_FILE": str(result_file),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in spec.headers.items()),
        "BENCH_OVERHEAD_HEADER": OVERHEAD_HEADER,
    }

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_prefix.with_suffix(".txt"), "w") as log:
        log.write(f"$ {' '.join(spec.argv())}\n")
        log.flush()
        # wrk stops by itself after the duration; the margin only guards a hang.
        completed = subprocess.run(
            spec.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=spec.duration_s + spec.timeout_s + 60,
            start_new_session=True,
            check=False,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    if completed.returncode != 0 or not result_file.exists():
        text = out_prefix.with_suffix(".txt").read_text(errors="replace")
        raise BenchError(f"wrk failed (exit {completed.returncode}):\n{text[-2000:]}")

    return json.loads(result_file.read_text()), wrk_cpu


def summarize(raw: dict, connections: int) -> dict:
    """The figures a report needs from one wrk summary."""
    duration_s = raw["duration_us"] / 1e6
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    errors = raw["errors"]
    percentiles = raw["latency_us"]["percentiles"]
    overhead = {int(k): v for k, v in raw["overhead_centims"].items()}

    return {
        "connections": connections,
        "duration_s": round(duration_s, 3),
        "requests": raw["requests"],
        "ok": ok,
        "rps": round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        "ok_rps": round(ok / duration_s, 1) if duration_s else 0.0,
        "non_2xx": raw["requests"] - ok,
        "socket_errors": errors["connect"] + errors["read"] + errors["write"],
        "timeouts": errors["timeout"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {
            "p50": percentiles["50"] / 1000,
            "p75": percentiles["75"] / 1000,
            "p90": percentiles["90"] / 1000,
            "p99": percentiles["99"] / 1000,
            "p99.9": percentiles["99.9"] / 1000,
            "max": raw["latency_us"]["max"] / 1000 if raw["requests"] else 0.0,
        },
        "overhead_ms": overhead_percentiles(overhead, raw["overhead_missing"]),
    }


def overhead_percentiles(histogram: dict[int, int], missing: int) -> dict:
    """p50/p90/p99 (nearest rank) of an overhead histogram keyed in 0.01 ms."""
    total = sum(histogram.values())
    result = {"count": total, "missing": missing}
    if not total:
        return result

    ordered = sorted(histogram.items())
    for name, share in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        rank = max(1, -(-total * share // 1))
        seen = 0
        for key, count in ordered:
            seen += count
            if seen >= rank:
                result[name] = key / 100
                break

    result["max"] = ordered[-1][0] / 100
    return result
