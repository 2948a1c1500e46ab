"""Load a class server with N simulated learners, each a real websocket session of the app.

  python scripts/load_class.py --learners 100 [--replicas 4] [--url URL --run-dir DIR] [--json]

Every simulated person speaks Streamlit's own protocol, as the browser does: it connects to
/_stcore/stream (through the proxy, carrying the proxy's route cookie), sends BackMsg protobufs (a
rerun with the page name, the query string and widget states; the periodic reruns that
st.fragment(run_every=...) asks the browser for) and reads ForwardMsg protobufs (the elements drawn,
script_finished). Nothing here calls the app's Python functions or the database directly.

The run: a presenter opens the step-by-step page and presses "Start a class session" (the join code is
read from what the page draws); the learners open /join?code=..., ramped over --ramp seconds, keep
their join view polling as the browser would, and each presses "Send my prediction" after a random
think time; the presenter's live chart keeps polling, and the run notes when its learner count first
includes each prediction; then the presenter presses "Reveal the answer" and every learner's polling
view must show the answer; then every learner answers one quiz question under the class's code.

Reported, per class size: p50/p95 of (a) submit -> the presenter's chart counting it (the presenter
session really receives the redrawn chart, whose title carries the count; the k-th acknowledged
prediction is counted once a chart received after that learner pressed send shows >= k learners),
(b) open the join link -> the join view drawn, (c) submit -> the learner's own acknowledgement drawn,
(d) reveal -> the learner's view showing the answer, (e) quiz "Check my answer" -> the graded result;
errors (exceptions drawn, refusals, timeouts, dropped connections); each replica's resident memory (now and
peak) and CPU used during the run (seconds and % of one core), nginx's and this script's own, the
machine's busy share of all its cores and the load average before and after. The CPU yardstick (a whole
`python -c "sum(i*i for i in range(10**7))"` process) is timed before and after, so times can be read as
ratios on a shared machine. Polling follows the browser's fixed-rate timer (see ``Ticker``). Loopback
only; every loop is bounded by --timeout. The last lines are the run as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEARNERS_RE = re.compile(r"The room's predictions \((\d+) learners?\)")


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


class Refused(Exception):
    pass


@dataclass
class RunResult:
    elements: list = field(default_factory=list)  # (fragment_id, Element) drawn during the run
    status: int | None = None


class AppSession:
    """One browser tab's websocket session, spoken in Streamlit's protobuf messages."""

    def __init__(self, base: str, timeout_s: float):
        self.base = base.rstrip("/")
        self.timeout_s = timeout_s
        self.cookie = ""
        self.replica = ""
        self.ws = None
        self.widgets: dict[str, tuple[str, object]] = {}  # widget id -> (fragment id, element)
        self.auto: dict[str, float] = {}  # fragment id -> interval the app asked for
        self.page = ""
        self.query = ""
        self._queue: asyncio.Queue = asyncio.Queue()
        self._reader = None
        self.errors: list[str] = []

    async def open(self) -> None:
        def first_get():
            req = urllib.request.Request(self.base + "/")
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                r.read()
                return r.headers.get_all("Set-Cookie") or [], r.headers.get("X-Batch-Lab-Replica", "")
        cookies, self.replica = await asyncio.to_thread(first_get)
        self.cookie = "; ".join(c.split(";")[0] for c in cookies)
        ws_url = self.base.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await asyncio.wait_for(connect(
            ws_url, subprotocols=["streamlit"], additional_headers={"Cookie": self.cookie, "Origin": self.base},
            max_size=2 ** 26, ping_interval=None, open_timeout=self.timeout_s), self.timeout_s)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                kind = msg.WhichOneof("type")
                if kind == "auto_rerun":
                    if msg.auto_rerun.interval > 0:
                        self.auto[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    await self._queue.put(("el", msg.delta.fragment_id, msg.delta.new_element))
                elif kind == "script_finished":
                    await self._queue.put(("done", msg.script_finished, None))
        except Exception as e:  # a dropped connection is an error of the run, reported, not raised here
            self.errors.append(f"connection: {type(e).__name__}: {e}")
        finally:
            await self._queue.put(("closed", None, None))

    async def rerun(self, page: str | None = None, query: str | None = None, widgets: list | None = None,
                    fragment_id: str = "", auto: bool = False) -> RunResult:
        if page is not None:
            self.page = page
        if query is not None:
            self.query = query
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_name = self.page
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        cs.context_info.url = f"{self.base}/{self.page}"
        cs.context_info.timezone = "UTC"
        for wid, kind, value in widgets or []:
            w = cs.widget_states.widgets.add()
            w.id = wid
            setattr(w, kind, value)
        await self.ws.send(msg.SerializeToString())
        out = RunResult()
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no script_finished within {self.timeout_s:.0f} s on {self.page}")
            kind, a, b = await asyncio.wait_for(self._queue.get(), left)
            if kind == "closed":
                raise ConnectionError("websocket closed")
            if kind == "el":
                out.elements.append((a, b))
                t = b.WhichOneof("type")
                wid = getattr(getattr(b, t), "id", "") if t else ""
                if wid:
                    self.widgets[wid] = (a, b)
                if t == "exception":
                    raise Refused(f"exception drawn: {b.exception.message[:200]}")
            elif kind == "done":
                if a == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the script called st.rerun(): its next run follows on the same request
                out.status = a
                return out

    def widget(self, key_part: str, kind: str | None = None) -> tuple[str, str]:
        """(widget id, fragment id) of the newest widget whose id contains ``key_part``."""
        for wid, (frag, el) in reversed(list(self.widgets.items())):
            if key_part in wid and (kind is None or el.WhichOneof("type") == kind):
                return wid, frag
        raise Refused(f"no widget {key_part!r} on {self.page}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (asyncio.TimeoutError, Exception):
                pass


def user_key(widget_id: str) -> str:
    """The key a page gave a widget: Streamlit's ids read ``$$ID-<hash>-<key>``."""
    return widget_id.split("-", 2)[2] if widget_id.startswith("$$ID-") else widget_id


def texts(result: RunResult) -> list[str]:
    out = []
    for _, el in result.elements:
        t = el.WhichOneof("type")
        if t == "markdown":
            out.append(el.markdown.body)
        elif t == "text":
            out.append(el.text.body)
        elif t == "alert":
            out.append(el.alert.body)
        elif t == "plotly_chart":
            out.append(el.plotly_chart.spec)
    return out


def alerts(result: RunResult) -> list[str]:
    """The messages a run drew (st.warning, st.error, st.info...): what the app told the learner."""
    return [el.alert.body for _, el in result.elements if el.WhichOneof("type") == "alert"]


def chart_count(result: RunResult) -> int | None:
    for s in texts(result):
        m = LEARNERS_RE.search(s)
        if m:
            return int(m.group(1))
    return None


@dataclass
class Stats:
    join: list[float] = field(default_factory=list)  # open the join link -> the join view drawn
    submit_at: dict[int, float] = field(default_factory=dict)
    ack_at: dict[int, float] = field(default_factory=dict)
    saw_reveal: list[float] = field(default_factory=list)
    quiz: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    chart: list[tuple[float, int]] = field(default_factory=list)  # (time, learners the chart counted)
    replicas: dict[str, int] = field(default_factory=dict)
    reveal_at: float | None = None
    learner_polls: int = 0  # the learners' periodic reruns of their live view


class Ticker:
    """The browser's timer for st.fragment(run_every=...): a fixed-rate setInterval, which asks for a rerun
    every ``interval`` seconds however long the last one took. One session here waits for its rerun to
    finish, so a rerun slower than the interval is followed by the next one at once (a browser would have
    queued it, and Streamlit coalesces queued reruns of one fragment)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.next = time.monotonic() + interval

    def wait_s(self) -> float:
        now = time.monotonic()
        wait = max(0.0, self.next - now)
        self.next = max(self.next, now) + self.interval
        return wait


async def presenter_start(base: str, timeout_s: float) -> tuple[AppSession, str]:
    p = AppSession(base, timeout_s)
    await p.open()
    await p.rerun(page="step-by-step")
    wid, frag = p.widget("class_start_step-by-step", "button")
    r = await p.rerun(widgets=[(wid, "trigger_value", True)], fragment_id="")
    code = next((m.group(1) for s in texts(r) for m in [re.search(r"Join code: \*\*([A-Z2-9]{6})\*\*", s)] if m), None)
    if not code:
        raise Refused("the presenter's page drew no join code")
    return p, code


async def presenter_poll(p: AppSession, st: Stats, stop: asyncio.Event, deadline: float) -> None:
    """Poll the live chart as the browser does for st.fragment(run_every=...)."""
    if not p.auto:
        raise Refused("the presenter's chart asked for no periodic rerun")
    frag, interval = next(iter(p.auto.items()))
    tick = Ticker(interval)
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(stop.wait(), tick.wait_s())
            break
        except asyncio.TimeoutError:
            pass
        r = await p.rerun(fragment_id=frag, auto=True)
        n = chart_count(r)
        if n is not None:
            st.chart.append((time.monotonic(), n))


async def learner(i: int, base: str, code: str, st: Stats, delay: float, think: float, reveal: asyncio.Event,
                  quiz_go: asyncio.Event, deadline: float, timeout_s: float, rng: random.Random) -> None:
    s = AppSession(base, timeout_s)
    try:
        await asyncio.sleep(delay)
        t0 = time.monotonic()
        await s.open()
        st.replicas[s.replica] = st.replicas.get(s.replica, 0) + 1
        await s.rerun(page="join", query=f"code={code}")
        send, frag = s.widget(f"class_pred_{code}_", "button")
        st.join.append(time.monotonic() - t0)
        stem = user_key(send)[:-len("_send")]
        boxes = sorted({w for w in s.widgets if stem in w and s.widgets[w][1].WhichOneof("type") == "checkbox"})
        if not boxes:
            raise Refused("no options to predict on the join page")
        picks = [b for b in boxes if rng.random() < 0.5] or [boxes[0]]
        await asyncio.sleep(think)
        st.submit_at[i] = time.monotonic()
        r = await s.rerun(widgets=[(b, "bool_value", True) for b in picks] + [(send, "trigger_value", True)],
                          fragment_id=frag)
        if not any(t.startswith("Your prediction:") for t in texts(r)):
            raise Refused("submit not acknowledged: " + ("; ".join(alerts(r)) or f"{len(r.elements)} elements, "
                                                         "no message")[:300])
        st.ack_at[i] = time.monotonic()
        # Keep the join view polling (as the browser does) until it shows the revealed answer.
        lfrag, interval = next(((f, v) for f, v in s.auto.items()), (frag, 2.0))
        tick = Ticker(interval)
        while time.monotonic() < deadline:
            await asyncio.sleep(tick.wait_s())
            r = await s.rerun(fragment_id=lfrag, auto=True, widgets=[(b, "bool_value", True) for b in picks])
            st.learner_polls += 1
            if reveal.is_set() and any("The simulator's answer" in t for t in texts(r)):
                st.saw_reveal.append(time.monotonic() - st.reveal_at)
                break
        else:
            raise Refused("never saw the revealed answer")
        await asyncio.wait_for(quiz_go.wait(), max(1.0, deadline - time.monotonic()))
        await s.rerun(page="quiz", query=f"class={code}")
        submit, qfrag = s.widget("submit_ans_", "button")
        stem = user_key(submit)[len("submit_"):]
        answer = []  # widget states as the browser sends them: radio and selectbox send the option's text
        for w, (_, el) in list(s.widgets.items()):
            if stem not in w or w == submit:
                continue
            kind = el.WhichOneof("type")
            if kind == "radio":
                answer.append((w, "string_value", el.radio.options[0]))
            elif kind == "text_input":
                answer.append((w, "string_value", "1"))
            elif kind == "checkbox":
                answer.append((w, "bool_value", w.endswith("_0")))
            elif kind == "selectbox":
                pos = int(w.rsplit("_pos", 1)[1])
                opts = list(el.selectbox.options)
                answer.append((w, "string_value", opts[pos % len(opts)]))
        t0 = time.monotonic()
        r = await s.rerun(widgets=answer + [(submit, "trigger_value", True)], fragment_id=qfrag)
        if not any(t.startswith("**Score") for t in texts(r)):
            raise Refused("quiz answer not graded: " + " | ".join(t[:60] for t in texts(r)[-4:]))
        st.quiz.append(time.monotonic() - t0)
    except (Refused, TimeoutError, ConnectionError, asyncio.TimeoutError, OSError) as e:
        st.errors.append(f"learner {i}: {type(e).__name__}: {e}")
    finally:
        st.errors.extend(f"learner {i}: {x}" for x in s.errors if "ConnectionClosedOK" not in x)
        await s.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MB from /proc."""
    now = peak = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """A process's direct children (nginx's workers under its master)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat (every core)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def yardstick_s() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "sum(i*i for i in range(10**7))"], check=True)
    return time.perf_counter() - t


async def drive(base: str, n: int, ramp_s: float, timeout_s: float, seed: int) -> Stats:
    st = Stats()
    rng = random.Random(seed)
    deadline = time.monotonic() + timeout_s * 6
    pres, code = await presenter_start(base, timeout_s)
    stop = asyncio.Event()
    poll = asyncio.create_task(presenter_poll(pres, st, stop, deadline))
    reveal, quiz_go = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(learner(i, base, code, st, ramp_s * i / max(1, n), rng.uniform(1.0, 4.0), reveal,
                                         quiz_go, deadline, timeout_s, random.Random(seed + i))) for i in range(n)]
    # Wait (bounded) until every learner has submitted or failed, and the chart counts every prediction.
    while time.monotonic() < deadline:
        done = len(st.ack_at) + len(st.errors)
        counted = st.chart[-1][1] if st.chart else 0
        if done >= n and counted >= len(st.ack_at):
            break
        if poll.done():
            break
        await asyncio.sleep(0.2)
    stop.set()
    try:
        await poll
    except Exception as e:
        st.errors.append(f"presenter poll: {type(e).__name__}: {e}")
    try:
        wid, frag = pres.widget("class_reveal", "button")
        st.reveal_at = time.monotonic()
        await pres.rerun(widgets=[(wid, "trigger_value", True)], fragment_id=frag)
    except Exception as e:
        st.errors.append(f"presenter reveal: {type(e).__name__}: {e}")
        st.reveal_at = time.monotonic()
    reveal.set()
    quiz_go.set()
    await asyncio.gather(*tasks)
    await pres.close()
    return st


def summarise(st: Stats, n: int) -> dict:
    """The run's figures. Submit -> the presenter's chart: predictions are counted in the order they were
    stored, which is the order the learners' acknowledgements came back in, so the k-th acknowledged
    prediction is on the presenter's chart from the first chart the presenter received, after that learner
    pressed send, that counts >= k learners."""
    acked = sorted(st.ack_at.items(), key=lambda kv: kv[1])
    to_chart = []
    for k, (i, _) in enumerate(acked, start=1):
        seen = next((t for t, c in st.chart if c >= k and t >= st.submit_at[i]), None)
        if seen is not None:
            to_chart.append(seen - st.submit_at[i])
    to_ack = [st.ack_at[i] - st.submit_at[i] for i in st.ack_at]
    ms = lambda x: None if x is None else round(x * 1e3)  # noqa: E731
    row = {"learners": n, "submitted": len(st.ack_at), "counted_by_chart": len(to_chart),
           "quiz_graded": len(st.quiz), "saw_reveal": len(st.saw_reveal),
           "errors": len(st.errors), "error_samples": st.errors[:5], "learners_per_replica": st.replicas,
           "presenter_polls": len(st.chart), "learner_polls": st.learner_polls}
    for name, xs in (("submit_to_chart", to_chart), ("join", st.join), ("submit_to_ack", to_ack),
                     ("reveal_to_learner", st.saw_reveal), ("quiz", st.quiz)):
        row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = ms(pct(xs, 0.5)), ms(pct(xs, 0.95))
    return row


def measure(base: str, n: int, a, replica_pids: list[int], nginx_pid: int | None) -> dict:
    """One class of ``n`` learners, with the machine's and every server process's resources around it."""
    y0 = yardstick_s()
    nginx = children(nginx_pid) + [nginx_pid] if nginx_pid else []
    me = os.getpid()
    cpu0 = {p: cpu_s(p) for p in replica_pids + nginx + [me]}
    busy0, total0 = machine_busy()
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    st = asyncio.run(drive(base, n, a.ramp, a.timeout, a.seed))
    wall = time.monotonic() - t0
    busy1, total1 = machine_busy()
    cpu1 = {p: cpu_s(p) for p in cpu0}
    row = summarise(st, n)
    cores = os.cpu_count() or 1
    row.update(wall_s=round(wall, 1), ramp_s=a.ramp, load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2),
               machine_busy_pct=round(100 * (busy1 - busy0) / max(1, total1 - total0), 1), cores=cores,
               yardstick_s=round((y0 + yardstick_s()) / 2, 2))
    row["replicas"] = [{"pid": p, "rss_mb": round(rss_mb(p)[0]), "peak_rss_mb": round(rss_mb(p)[1]),
                        "cpu_s": round(cpu1[p] - cpu0[p], 1), "cpu_pct": round(100 * (cpu1[p] - cpu0[p]) / wall)}
                       for p in replica_pids]
    row["nginx"] = {"processes": len(nginx), "rss_mb": round(sum(rss_mb(p)[0] for p in nginx)),
                    "cpu_s": round(sum(cpu1[p] - cpu0[p] for p in nginx), 1)}
    row["load_script"] = {"rss_mb": round(rss_mb(me)[0]), "cpu_s": round(cpu1[me] - cpu0[me], 1),
                          "cpu_pct": round(100 * (cpu1[me] - cpu0[me]) / wall)}
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, nargs="+", default=[50], help="class sizes to run, e.g. 50 100 200")
    ap.add_argument("--replicas", type=int, default=4, help="start this many replicas behind nginx (no --url)")
    ap.add_argument("--url", help="an already running class server (then --run-dir names its replicas.json)")
    ap.add_argument("--run-dir", help="the server's run folder, for the replicas' memory and CPU")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the learners arrive")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one step may take before it is an error")
    ap.add_argument("--postgres", action="store_true", help="serve from a local PostgreSQL (else the SQLite file)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if any(not 1 <= n <= 2000 for n in a.learners):
        print("--learners: 1..2000 each", file=sys.stderr)
        return 2
    from serve_class import ClassServer
    server = None
    if a.url:
        base, run_dir = a.url.rstrip("/"), a.run_dir
    else:
        import tempfile
        server = ClassServer(a.replicas, postgres=a.postgres, run_dir=tempfile.mkdtemp(prefix="batchlab-load-"))
        if not a.postgres:  # a fresh SQLite file for the run, not the user's own
            os.environ["XDG_DATA_HOME"] = os.path.join(server.run_dir, "data")
        server.__enter__()  # stops whatever it started if starting fails
        base, run_dir = server.url, server.run_dir
    try:
        pids, nginx_pid, database = [], None, "?"
        if run_dir and os.path.exists(os.path.join(run_dir, "replicas.json")):
            with open(os.path.join(run_dir, "replicas.json")) as f:
                info = json.load(f)
            pids, nginx_pid, database = [r["pid"] for r in info["replicas"]], info.get("nginx_pid"), info["database"]
        rows = []
        for n in a.learners:
            row = measure(base, n, a, pids, nginx_pid)
            rows.append(row)
            if not a.json:
                _print_row(row)
        if a.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"\n{len(pids)} replicas behind nginx, database {database.split(':')[0]}; learners arrive over "
                  f"{a.ramp:g} s; {rows[0]['cores']} cores\n")
            print(table(rows))
        return 0 if all(r["errors"] == 0 for r in rows) else 1
    finally:
        if server is not None:
            server.stop()


def table(rows: list[dict]) -> str:
    """The run as a Markdown table (times in ms, with the CPU yardstick's time beside them)."""
    def pp(r, name):
        a, b = r[f"{name}_p50_ms"], r[f"{name}_p95_ms"]
        return "-" if a is None else f"{a} / {b}"
    out = ["| learners | submit -> presenter's chart p50 / p95 (ms) | join p50 / p95 | predict p50 / p95 | "
           "quiz p50 / p95 | reveal -> learner p50 / p95 | errors | RSS per process, MB (peak) | "
           "CPU: replicas / nginx / load script (% of one core) | machine busy | load avg before -> after | "
           "yardstick (s) |",
           "|---:|---|---|---|---|---|---:|---|---|---:|---|---:|"]
    for r in rows:
        rss = ", ".join(f"{x['rss_mb']} ({x['peak_rss_mb']})" for x in r["replicas"])
        cpu = "+".join(str(x["cpu_pct"]) for x in r["replicas"])
        ng = round(100 * r["nginx"]["cpu_s"] / r["wall_s"])
        out.append(f"| {r['learners']} | {pp(r, 'submit_to_chart')} | {pp(r, 'join')} | {pp(r, 'submit_to_ack')} | "
                   f"{pp(r, 'quiz')} | {pp(r, 'reveal_to_learner')} | {r['errors']} | {rss} | "
                   f"{cpu} / {ng} / {r['load_script']['cpu_pct']} | {r['machine_busy_pct']:g} % | "
                   f"{r['load_before']} -> {r['load_after']} | {r['yardstick_s']} |")
    return "\n".join(out)


def _print_row(r: dict) -> None:
    y = r["yardstick_s"]
    ratio = lambda v: "-" if v is None else f"{v} ms ({v / 1e3 / y:.2f} yardsticks)"  # noqa: E731
    print(f"\n{r['learners']} learners: {r['submitted']} submitted, {r['counted_by_chart']} counted by the presenter's "
          f"chart ({r['presenter_polls']} chart updates received), {r['saw_reveal']} saw the reveal, "
          f"{r['quiz_graded']} quiz answers graded, {r['errors']} errors, {r['wall_s']} s wall")
    for name, label in (("submit_to_chart", "submit -> presenter's chart"), ("join", "join link -> join view"),
                        ("submit_to_ack", "submit -> learner's ack"), ("reveal_to_learner", "reveal -> learner's view"),
                        ("quiz", "quiz answer -> graded")):
        print(f"  {label:28s} p50 {ratio(r[f'{name}_p50_ms'])}, p95 {ratio(r[f'{name}_p95_ms'])}")
    print(f"  yardstick {y} s; load average {r['load_before']} -> {r['load_after']}; machine busy "
          f"{r['machine_busy_pct']} % of {r['cores']} cores")
    print("  per replica: " + ", ".join(
        f"pid {x['pid']} {x['rss_mb']} MB (peak {x['peak_rss_mb']}), {x['cpu_s']} CPU s ({x['cpu_pct']} %)"
        for x in r["replicas"]))
    print(f"  nginx: {r['nginx']['processes']} processes, {r['nginx']['rss_mb']} MB, {r['nginx']['cpu_s']} CPU s; "
          f"load script: {r['load_script']['rss_mb']} MB, {r['load_script']['cpu_s']} CPU s "
          f"({r['load_script']['cpu_pct']} %)")
    print(f"  learners per replica: {r['learners_per_replica']}")
    for e in r["error_samples"]:
        print(f"  error: {e}")


if __name__ == "__main__":
    sys.exit(main())
