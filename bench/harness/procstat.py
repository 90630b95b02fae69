"""CPU time and memory of a process tree, read from /proc.

A server's tree is its launcher process and every descendant. CPU is utime + stime +
cutime + cstime summed over the tree, so a worker that exits and is reaped keeps
counting through its parent. Memory comes from /proc/<pid>/smaps_rollup: RSS counts
pages shared between forked workers once per process, PSS splits them, so the tree's
PSS is what the tree really costs.
"""

import os
import threading
import time
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The launcher `make run` goes through is not part of the server.
LAUNCHER_NAMES = frozenset({"make"})


@dataclass(frozen=True)
class ProcessMemory:
    """One process: RSS and PSS in MB."""

    pid: int
    name: str
    rss_mb: float
    pss_mb: float
    is_worker: bool


@dataclass
class TreeMemory:
    """One sample of a tree's memory; workers are its leaf processes."""

    processes: list[ProcessMemory] = field(default_factory=list)

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_mb for p in self.processes)

    @property
    def pss_mb(self) -> float:
        return sum(p.pss_mb for p in self.processes)

    @property
    def workers(self) -> list[ProcessMemory]:
        return [p for p in self.processes if p.is_worker]

    def summary(self) -> dict:
        workers = self.workers
        return {
            "processes": len(self.processes),
            "workers": len(workers),
            "tree_rss_mb": round(self.rss_mb, 1),
            "tree_pss_mb": round(self.pss_mb, 1),
            "worker_rss_mb": round(max((w.rss_mb for w in workers), default=0), 1),
            "worker_pss_mb": round(max((w.pss_mb for w in workers), default=0), 1),
            "per_worker": {str(w.pid): round(w.rss_mb, 1) for w in workers},
        }


def read_stat(pid: int) -> tuple[str, int, int] | None:
    """Return (name, parent pid, CPU ticks including reaped children) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None

    # The name sits in parentheses and may itself hold spaces or parentheses.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    parent = int(fields[1])
    ticks = sum(int(v) for v in fields[11:15])
    return name, parent, ticks


def list_tree(root: int) -> dict[int, tuple[str, int, int]]:
    """Every live process under root (root included), keyed by pid."""
    table, children = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat:
                table[int(entry)] = stat
                children.setdefault(stat[1], []).append(int(entry))

    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in table and pid not in tree:
            tree[pid] = table[pid]
            frontier.extend(children.get(pid, ()))

    return tree


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds used so far by the trees under roots, launchers included."""
    total = 0
    for root in roots:
        total += sum(stat[2] for stat in list_tree(root).values())

    return total / CLOCK_TICKS


def read_rollup(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MB; zeros if it is gone."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in values:
                    values[parts[0]] = int(parts[1])
    except OSError:
        pass

    return values["Rss:"] / 1024, values["Pss:"] / 1024


def tree_memory(root: int) -> TreeMemory:
    """Memory of every process in root's tree except launchers."""
    tree = list_tree(root)
    members = {pid: s for pid, s in tree.items() if s[0] not in LAUNCHER_NAMES}
    parents = {s[1] for s in members.values()}

    sample = TreeMemory()
    for pid, (name, _parent, _ticks) in sorted(members.items()):
        rss, pss = read_rollup(pid)
        is_worker = pid not in parents
        sample.processes.append(ProcessMemory(pid, name, rss, pss, is_worker))

    return sample


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]

    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


class MemorySampler:
    """Samples a tree's memory every interval seconds on a background thread."""

    def __init__(self, root: int, interval: float = 1.0) -> None:
        self.root = root
        self.interval = interval
        self.samples: list[tuple[float, TreeMemory]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while True:
            self.samples.append((time.monotonic() - started, tree_memory(self.root)))
            if self._stop.wait(self.interval):
                break

    def peak(self) -> dict:
        """Largest tree and largest worker over the samples, as summary fields."""
        if not self.samples:
            return TreeMemory().summary()

        by_tree = max(self.samples, key=lambda s: s[1].rss_mb)[1].summary()
        summaries = [s[1].summary() for s in self.samples]
        for name in ("tree_pss_mb", "worker_rss_mb", "worker_pss_mb", "processes"):
            by_tree[name] = max(s[name] for s in summaries)

        return by_tree
