"""Serve a class: several Streamlit processes of the app behind Debian's nginx, sharing one database.

  python scripts/serve_class.py --replicas 4 [--port 8080] [--postgres | --database-url URL] [--run-dir DIR]

Each replica is `streamlit run app.py` on its own loopback port. nginx (a real reverse proxy) listens on
--port and spreads learners over the replicas with sticky sessions: Streamlit keeps a learner's session
(its widgets, the presenter's secret, files for downloads under /media/) in the memory of the process
that holds the websocket /_stcore/stream, and a browser that reconnects (a network blip, a sleeping
phone) presents its old session id, which only that process knows. So nginx routes by a cookie
(`batchlab_route`) that it sets on the first response: `hash $route consistent` sends every request and
websocket of that browser to the same replica, and removing a replica moves only its own learners. The
websocket upgrade headers are passed through and idle websockets are kept for an hour.

The replicas share the database: the SQLite file in the user's data folder by default (one machine), or
PostgreSQL (`--database-url`, or `--postgres` to start a local server from Debian's binaries in the run
folder). A class session therefore works whichever replica a learner lands on. Stop with Ctrl-C; every
process started here is stopped. `scripts/serve-class.sh` runs this with the repo's venv.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NGINX_CONF = """# Written by scripts/serve_class.py; see its docstring for why each part is there.
worker_processes {workers};
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    client_max_body_size 50m;  # trace uploads on the playground

    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    # Sticky sessions: a browser's route is its cookie; a first visit gets a fresh one (the request id).
    map $cookie_batchlab_route $route {{ "" $request_id; default $cookie_batchlab_route; }}
    map $cookie_batchlab_route $route_cookie {{
        "" "batchlab_route=$request_id; Path=/; Max-Age=86400; HttpOnly; SameSite={samesite}{secure}";
        default "";
    }}

    upstream batchlab {{
        hash $route consistent;
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://batchlab;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
            add_header Set-Cookie $route_cookie always;
            add_header X-Batch-Lab-Replica $upstream_addr always;  # which replica answered (tests, load)
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, procs=(), timeout_s: float = 90.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a process exited with status {p.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not become healthy within {timeout_s:.0f} s")


def warm(url: str, timeout_s: float = 120.0) -> None:
    """One full visit of Home over the websocket, as a browser's first visit, before learners arrive.

    Not needed for correctness: a class arriving at once on a fresh server is served right
    (tests/test_class_server_first_visits.py). It is for the first learners' wait: a fresh process imports
    the app's modules (Streamlit, plotly, pandas, the simulator) on its first visit, seconds of CPU that
    would otherwise land on whoever joins first, and the presenter starts a session after the server is up.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect
    msg = BackMsg()
    msg.rerun_script.page_name = ""
    msg.rerun_script.context_info.url = url + "/"
    deadline = time.monotonic() + timeout_s
    with connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                 open_timeout=timeout_s, max_size=2 ** 26) as ws:
        ws.send(msg.SerializeToString())
        while time.monotonic() < deadline:
            fm = ForwardMsg()
            fm.ParseFromString(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if fm.WhichOneof("type") == "script_finished" and \
                    fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return
    raise RuntimeError(f"{url}: the first visit did not finish within {timeout_s:.0f} s")


class ClassServer:
    """The replicas, the proxy and (optionally) a local PostgreSQL; a context manager that stops them all."""

    def __init__(self, replicas: int = 4, port: int | None = None, database_url: str | None = None,
                 postgres: bool = False, run_dir: str | None = None, samesite: str = "Lax", quiet: bool = True):
        if not 1 <= replicas <= 64:
            raise ValueError("replicas: 1..64")
        self.replicas = replicas
        self.port = port or free_port()
        self.database_url = database_url
        self.postgres = postgres
        self.run_dir = run_dir or tempfile.mkdtemp(prefix="batchlab-class-")
        self.samesite = samesite
        self.quiet = quiet
        self.procs: list[subprocess.Popen] = []
        self.replica_ports: list[int] = []
        self.nginx: subprocess.Popen | None = None
        self._pg_dir: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ClassServer":
        nginx = find_nginx()
        if nginx is None:
            raise RuntimeError("nginx not found (apt-get install nginx)")
        env = dict(os.environ)
        os.chmod(self.run_dir, 0o755)  # PostgreSQL and nginx's workers run as other users and must reach it
        if self.postgres:
            import local_postgres
            self._pg_dir = os.path.join(self.run_dir, "postgres")
            self.database_url = local_postgres.start(self._pg_dir)
        if self.database_url:
            env["BATCH_LAB_DATABASE_URL"] = self.database_url
        # Migrate once before the replicas start, so a broken database is one message here, not N.
        subprocess.run([sys.executable, "-c", "from quiz import db; db.get_engine()"], cwd=ROOT, env=env, check=True)
        streamlit = os.path.join(os.path.dirname(sys.executable), "streamlit")
        # One cookie secret for all replicas, so a signed cookie one replica set is valid on every other.
        cookie_secret = secrets.token_hex(32)
        for i in range(self.replicas):
            p = free_port()
            self.replica_ports.append(p)
            # Quiet: each replica's log goes to the run folder (what went wrong under load is read there).
            out = open(os.path.join(self.run_dir, f"replica-{i}.log"), "w") if self.quiet else None
            self.procs.append(subprocess.Popen(
                [streamlit, "run", "app.py", "--server.headless", "true", "--server.address", "127.0.0.1",
                 "--server.port", str(p), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                 "--server.runOnSave", "false"], cwd=ROOT,
                env=dict(env, STREAMLIT_SERVER_COOKIE_SECRET=cookie_secret), stdout=out,
                stderr=subprocess.STDOUT if out is not None else None))
            if out is not None:
                out.close()  # the child has its own copy
        for p in self.replica_ports:
            wait_healthy(f"http://127.0.0.1:{p}", self.procs)
            warm(f"http://127.0.0.1:{p}")
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.run_dir, "tmp", sub), exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        for dp, dns, _ in os.walk(os.path.join(self.run_dir, "tmp")):
            for d in dns:
                os.chmod(os.path.join(dp, d), 0o777)  # nginx's workers may run as another user
        conf = os.path.join(self.run_dir, "nginx.conf")
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in self.replica_ports)
        secure = "; Secure" if self.samesite.lower() == "none" else ""
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(workers=2, run=self.run_dir, servers=servers, port=self.port,
                                      samesite=self.samesite, secure=secure))
        out = subprocess.DEVNULL if self.quiet else None
        self.nginx = subprocess.Popen([nginx, "-p", self.run_dir, "-e", os.path.join(self.run_dir, "nginx-error.log"),
                                       "-c", conf, "-g", "daemon off;"], stdout=out, stderr=out)
        wait_healthy(self.url, [self.nginx])
        with open(os.path.join(self.run_dir, "replicas.json"), "w") as f:
            json.dump({"url": self.url, "replicas": [{"port": p, "pid": pr.pid} for p, pr in
                                                     zip(self.replica_ports, self.procs)],
                       "nginx_pid": self.nginx.pid, "database": self.database_url or "sqlite (default file)"}, f)
        return self

    def stop(self) -> None:
        for p in ([self.nginx] if self.nginx else []) + self.procs:
            if p.poll() is None:
                p.terminate()
        for p in ([self.nginx] if self.nginx else []) + self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if self._pg_dir:
            import local_postgres
            local_postgres.stop(self._pg_dir)

    def __enter__(self) -> "ClassServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Serve a class: N app processes behind nginx, one database.")
    ap.add_argument("--replicas", type=int, default=4, help="app processes (default 4)")
    ap.add_argument("--port", type=int, default=8080, help="the proxy's port on 127.0.0.1 (default 8080)")
    db = ap.add_mutually_exclusive_group()
    db.add_argument("--database-url", help="shared database (default: BATCH_LAB_DATABASE_URL, else the SQLite file)")
    db.add_argument("--postgres", action="store_true", help="start a local PostgreSQL in the run folder and use it")
    ap.add_argument("--run-dir", help="folder for nginx.conf, logs and pids (default: a new temporary folder)")
    ap.add_argument("--samesite", choices=("Lax", "None"), default="Lax",
                    help="route cookie's SameSite; None (with Secure) when embedded in another site over https")
    a = ap.parse_args(argv)
    if not 1 <= a.replicas <= 64:
        print("--replicas: between 1 and 64", file=sys.stderr)
        return 2
    server = ClassServer(a.replicas, a.port, a.database_url or os.environ.get("BATCH_LAB_DATABASE_URL"), a.postgres,
                         a.run_dir, a.samesite, quiet=False)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        with server:
            print(f"Batch Lab class server: {server.url}  ({a.replicas} replicas on ports "
                  f"{', '.join(map(str, server.replica_ports))}; database {server.database_url or 'SQLite default'}; "
                  f"run folder {server.run_dir})", flush=True)
            while not stop:
                time.sleep(0.5)
                dead = [p.pid for p in server.procs + [server.nginx] if p.poll() is not None]
                if dead:
                    print(f"process(es) {dead} exited; stopping", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        pass
    except RuntimeError as e:
        print(f"serve-class: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
