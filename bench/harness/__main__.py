"""Command line of the bench harness; `bench/run --help` lists the modes."""

import argparse
import csv
import json
import resource
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import (
    install,
    machine,
    report,
    results_file,
    servers,
    soak,
    soak_report,
    targets,
)
from .errors import BenchError
from .load import LUA_SCRIPT, OVERHEAD_HEADER
from .probe import require_free_port
from .processes import ProcessGroups
from .suites import SLOW_DELAY_S, plan_suites, run_soak, run_suites
from .upstreams import start_fast, start_slow

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
FAST_PORT, SLOW_PORT = 18190, 18191
MODES = {
    "compare": ("Comparison", ["direct", "ours", "portkey", "litellm"]),
    "ours": ("Ours alone", ["direct", "ours"]),
    "soak": ("Memory soak of ours", ["ours"]),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark our gateway against LiteLLM and Portkey on loopback.",
    )
    parser.add_argument("mode", choices=[*MODES, "install", "report"])
    parser.add_argument("run_dir", nargs="?", help="report: a bench/out/<run> folder")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run a stand-in passthrough in place of our gateway (checks the harness;"
        " writes nothing to RESULTS.md)",
    )
    parser.add_argument("--quick", action="store_true", help="seconds-long points")
    parser.add_argument("--runs", type=int, default=2, help="repetitions (default 2)")
    parser.add_argument(
        "--servers", help="comma-separated subset of the mode's servers"
    )
    parser.add_argument("--suites", default="fast,slow", help="fast, slow or both")
    parser.add_argument("--no-results", action="store_true", help="leave RESULTS.md")
    soak_options = parser.add_argument_group("soak")
    soak_options.add_argument("--duration", type=int, default=600, help="seconds")
    soak_options.add_argument("--interval", type=float, default=5.0, help="seconds")
    soak_options.add_argument("--connections", type=int, default=64)
    soak_options.add_argument("--upstream", choices=["fast", "slow"], default="fast")
    soak_options.add_argument(
        "--skip", type=float, default=60.0, help="seconds left out of the slope"
    )
    return parser.parse_args(argv)


class Run:
    """The folders and log of one invocation."""

    def __init__(self, mode: str, self_test: bool) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        suffix = "-selftest" if self_test else ""
        self.dir = BENCH_DIR / "out" / f"{stamp}-{mode}{suffix}"
        self.raw = self.dir / "raw"
        self.logs = self.dir / "logs"
        self.tmp = self.dir / "tmp"
        for folder in (self.raw, self.logs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def log(self, message: str) -> None:
        line = f"{datetime.now():%H:%M:%S} {message}"
        print(line, flush=True)
        with open(self.dir / "run.log", "a") as f:
            f.write(line + "\n")


def choose_specs(args: argparse.Namespace) -> list[servers.ServerSpec]:
    names = MODES[args.mode][1]
    if args.servers:
        wanted = args.servers.split(",")
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise BenchError(f"{args.mode} knows no server {unknown}; it has {names}")
        names = [n for n in names if n in wanted]

    specs = [servers.SERVERS[n] for n in names]
    if args.self_test:
        specs = [servers.standin_spec() if s.name == "ours" else s for s in specs]

    return specs


def check_ours_is_runnable(specs: list[servers.ServerSpec], log) -> None:
    if not any(s.launch is servers.launch_ours for s in specs):
        return
    if not (REPO / "Makefile").exists():
        raise BenchError(f"no Makefile in {REPO}: our gateway starts with `make run`")
    if not (REPO / ".venv" / "bin" / "gateway").exists():
        log("note: .venv/bin/gateway is missing; `make run` builds .venv first")


def prepare(args, run: Run, specs) -> servers.Context:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 8192:
        run.log(f"warning: open files limited to {hard}; c=1000 needs about 4000")

    # Fail before installing or measuring anything, not twenty minutes in.
    for port, what in [(FAST_PORT, "fast upstream"), (SLOW_PORT, "slow upstream")]:
        require_free_port(port, what)
    for spec in specs:
        if spec.port:
            require_free_port(spec.port, spec.name)

    install.ensure_debian_tools(run.log)
    bench_python = install.ensure_bench_venv(run.log)
    ctx = servers.Context(REPO, run.tmp, run.logs, bench_python, run.log)
    for spec in specs:
        spec.install(ctx)

    check_ours_is_runnable(specs, run.log)
    return ctx


def base_meta(args, run: Run, ctx: servers.Context, specs) -> dict:
    versions = machine.tool_versions()
    for spec in specs:
        versions.update(spec.versions(ctx))

    title = MODES[args.mode][0]
    if args.self_test:
        title += " (self-test: a stand-in, not our gateway)"

    command = "bench/run " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return {
        "mode": args.mode,
        "title": title,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "raw_dir": str(run.dir.relative_to(REPO)),
        "machine": machine.machine_facts(),
        "versions": versions,
        "slow_delay_s": SLOW_DELAY_S,
        "runs": args.runs,
        "self_test": args.self_test,
        "wrk_command": (
            f"wrk -t<1 at c=1, else 2> -c<c> -d<s> --timeout=<s> --latency -s "
            f"{LUA_SCRIPT.relative_to(REPO)} <url> (POST, "
            f"{len(servers.REQUEST_BODY)} B body, Authorization: Bearer; "
            f"collects {OVERHEAD_HEADER})"
        ),
    }


def run_comparison(args, run: Run, groups: ProcessGroups) -> int:
    specs = choose_specs(args)
    suites = [
        s for s in plan_suites(args.quick) if s.upstream in args.suites.split(",")
    ]
    if args.runs < 2:
        run.log("warning: one repetition; figures are meant to be measured twice")

    ctx = prepare(args, run, specs)
    meta = base_meta(args, run, ctx, specs)
    run.log(f"{meta['title']}: {[s.name for s in specs]}, raw output in {run.dir}")
    upstreams = {}
    if any(s.upstream == "fast" for s in suites):
        upstreams["fast"] = start_fast(groups, FAST_PORT, run.tmp / "nginx", run.logs)
    if any(s.upstream == "slow" for s in suites):
        upstreams["slow"] = start_slow(
            groups, SLOW_PORT, SLOW_DELAY_S, ctx.bench_python, run.logs
        )
    results = run_suites(ctx, groups, specs, suites, upstreams, args.runs, run.raw)
    for upstream in upstreams.values():
        groups.stop(upstream.process)

    meta["machine"]["load average at end"] = machine.load_average()
    results["meta"] = meta
    results["commands"] = {k: shorten(v) for k, v in results["commands"].items()}
    verdicts = targets.evaluate(results)
    section = report.render_run(results, verdicts)
    finish(args, run, results, section, verdicts)
    return check_self_test(results, run) if args.self_test else 0


def run_soak_mode(args, run: Run, groups: ProcessGroups) -> int:
    specs = choose_specs(args)
    ctx = prepare(args, run, specs)
    meta = base_meta(args, run, ctx, specs)
    meta.update(
        soak_duration_s=args.duration,
        soak_interval_s=args.interval,
        soak_upstream=args.upstream,
        soak_skip_s=args.skip,
    )
    if args.upstream == "fast":
        upstream = start_fast(groups, FAST_PORT, run.tmp / "nginx", run.logs)
    else:
        upstream = start_slow(
            groups, SLOW_PORT, SLOW_DELAY_S, ctx.bench_python, run.logs
        )
    soaked = run_soak(
        ctx, groups, specs[0], upstream, args.connections, args.duration,
        args.interval, run.raw,
    )  # fmt: skip
    groups.stop(upstream.process)

    soaked["command"] = shorten(soaked["command"])
    write_samples_csv(run.dir / "soak-samples.csv", soaked["samples"])
    results = {"meta": meta, "soak": soaked}
    summary = soak.summarize_soak(soaked["samples"], args.skip)
    results["summary"] = summary
    verdicts = targets.evaluate_soak(summary)
    finish(
        args,
        run,
        results,
        soak_report.render_soak(results, summary, verdicts),
        verdicts,
    )
    return 0


def write_samples_csv(path: Path, samples: list[dict]) -> None:
    """One row per memory sample: time, tree RSS and PSS, then each worker's RSS."""
    pids = sorted({pid for s in samples for pid in s["workers"]}, key=int)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["t_s", "tree_rss_mb", "tree_pss_mb", *[f"rss_{p}" for p in pids]]
        )
        for s in samples:
            workers = [s["workers"].get(p, {}).get("rss_mb", "") for p in pids]
            writer.writerow([s["t"], s["tree_rss_mb"], s["tree_pss_mb"], *workers])


def shorten(command: str) -> str:
    """A command with the repo and home folders abbreviated, for the report."""
    return command.replace(f"{REPO}/", "").replace(str(Path.home()), "~")


def finish(args, run: Run, results: dict, section: str, verdicts) -> None:
    (run.dir / "results.json").write_text(json.dumps(results, indent=1))
    (run.dir / "report.md").write_text(section)
    if not (args.self_test or args.no_results):
        results_file.write_section(BENCH_DIR / "RESULTS.md", args.mode, section)
        run.log("wrote bench/RESULTS.md")

    run.log(f"report: {run.dir / 'report.md'}")
    for verdict in verdicts:
        print(f"{verdict.label:4}  {verdict.target}: {verdict.measured}")


def check_self_test(results: dict, run: Run) -> int:
    """The harness works if it reached every server and read the overhead header.

    The stand-in and the upstream must answer at every point; a peer only at one,
    since a peer that answers nothing under overload is a finding, not a fault.
    """
    points = results["points"]
    problems = [
        f"{p['server']} {p['suite']} c={p['connections']} run {p['rep']}: no 2xx"
        for p in points
        if p["ok"] == 0 and p["server"] in ("ours", "direct")
    ]
    problems += results["failures"]
    for server in {p["server"] for p in points}:
        if not any(p["ok"] for p in points if p["server"] == server):
            problems.append(f"{server} answered no request with a 2xx")

    ours = [p for p in points if p["server"] == "ours"]
    if ours and not any(p["overhead_ms"]["count"] for p in ours):
        problems.append("no x-gateway-overhead-ms header was collected from ours")

    for problem in problems:
        run.log(f"self-test problem: {problem}")
    run.log("self-test: " + ("FAILED" if problems else "harness OK"))
    return 1 if problems else 0


def rerender(args) -> int:
    if not args.run_dir:
        raise BenchError(
            "report needs the folder of a run: bench/run report bench/out/<run>"
        )

    folder = Path(args.run_dir).resolve()
    results = json.loads((folder / "results.json").read_text())
    if "soak" in results:
        verdicts = targets.evaluate_soak(results["summary"])
        section = soak_report.render_soak(results, results["summary"], verdicts)
    else:
        verdicts = targets.evaluate(results)
        section = report.render_run(results, verdicts)

    print(section)
    for verdict in verdicts:
        print(f"{verdict.label:4}  {verdict.target}: {verdict.measured}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        if args.mode == "report":
            return rerender(args)
        if args.mode == "install":
            run_install()
            return 0

        run = Run(args.mode, args.self_test)
        with ProcessGroups() as groups:
            if args.mode == "soak":
                code = run_soak_mode(args, run, groups)
            else:
                code = run_comparison(args, run, groups)
        run.log(f"done in {time.monotonic() - started:.0f} s")
        return code
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "bench: interrupted; every process it started was stopped", file=sys.stderr
        )
        return 130


def run_install() -> None:
    def log(message: str) -> None:
        print(message, flush=True)

    install.ensure_debian_tools(log)
    install.ensure_bench_venv(log)
    install.ensure_litellm(log)
    install.ensure_portkey(log)
    log(f"installed into {install.cache_dir()}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
