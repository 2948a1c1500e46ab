"""A throw-away PostgreSQL server for tests and the local class server, from Debian's binaries.

Finds initdb / pg_ctl on PATH or under /usr/lib/postgresql/*/bin (Debian's `postgresql` package), makes a
cluster in a temporary folder, starts it on a free loopback port (and a Unix socket in the same folder)
and hands back its URL. Run as root it runs the server as the `postgres` user (PostgreSQL refuses root).

  python scripts/local_postgres.py start DIR   # prints the URL; the server keeps running
  python scripts/local_postgres.py stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    for b in ("initdb", "pg_ctl"):
        if find_bin(b) is None:
            return f"PostgreSQL's {b} not found (apt-get install postgresql)"
    return None


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"]
        except KeyError:
            continue
    raise RuntimeError("running as root, and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _chown(path: str) -> None:
    if os.geteuid() == 0:
        user = _as_user()[2]
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: str, timeout_s: float = 30.0) -> str:
    """Start a fresh cluster in ``folder`` (created); returns a postgresql:// URL to database 'batchlab'."""
    os.makedirs(folder, exist_ok=True)
    _chown(folder)
    data = os.path.join(folder, "data")
    run = _as_user()
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        r = subprocess.run(run + [find_bin("initdb"), "-D", data, "-U", "batchlab", "--auth=trust", "-E", "UTF8",
                                  "--no-instructions"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed in {data}: {(r.stderr or r.stdout).strip()[-500:]}")
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
    subprocess.run(run + [find_bin("pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(folder, "log"), "-w",
                          "-t", str(int(timeout_s)), "start"], check=True, capture_output=True, text=True)
    with open(os.path.join(folder, "port"), "w") as f:
        f.write(str(port))
    url = f"postgresql://batchlab@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + timeout_s
    createdb = find_bin("createdb")
    while True:  # pg_ctl -w returns once it accepts connections; make the app's own database
        r = subprocess.run(run + [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "batchlab", "batchlab"],
                           capture_output=True, text=True) if createdb else None
        if r is None or r.returncode == 0 or "already exists" in r.stderr:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {r.stderr.strip()}")
        time.sleep(0.3)
    return url.replace("/postgres", "/batchlab") if createdb else url


def stop(folder: str) -> None:
    data = os.path.join(folder, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(_as_user() + [find_bin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
                       capture_output=True, text=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        print(__doc__.strip().splitlines()[-2:], file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "start":
        print(start(sys.argv[2]))
    else:
        stop(sys.argv[2])
