"""Which gunicorn worker holds a TCP connection, read from Linux's /proc.

The gateway logs no process id, and it should not have to for a test to know which
worker served a call: the worker that accepted a connection holds its socket, and
/proc/net/tcp names the socket's inode, which appears among that worker's open files.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def worker_pids(master_pid: int) -> set[int]:
    """The child processes of ``master_pid`` (gunicorn's workers)."""
    children = PROC / str(master_pid) / "task" / str(master_pid) / "children"
    return {int(pid) for pid in children.read_text().split()}


def serving_pid(master_pid: int, server_port: int, client_port: int) -> int:
    """The worker of ``master_pid`` holding the server end of the loopback connection
    from ``client_port`` to ``server_port``; the connection must still be open.
    Raise LookupError if no worker holds it."""
    inode = _socket_inode(server_port, client_port)
    wanted = f"socket:[{inode}]"
    for pid in worker_pids(master_pid):
        descriptors = PROC / str(pid) / "fd"
        for name in os.listdir(descriptors):
            try:
                if os.readlink(descriptors / name) == wanted:
                    return pid
            except FileNotFoundError:
                continue
    raise LookupError(f"no worker of {master_pid} holds the connection {client_port}")


def _socket_inode(server_port: int, client_port: int) -> int:
    for table in ("tcp", "tcp6"):
        lines = (PROC / "net" / table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if _port(local) == server_port and _port(remote) == client_port and inode:
                return inode
    raise LookupError(f"no socket from port {client_port} to {server_port}")


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)
