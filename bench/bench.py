"""Flywheel's benchmark: measures Flywheel and the baselines on the same data in the same
run, prints a table of figures and ratios, and writes bench/RESULTS.md.

Run through bench/run, which builds Flywheel, makes the virtual environment with the
baselines' packages and starts a throwaway PostgreSQL (PG_ADMIN_URL). Every figure is
measured here, on this machine, in this run; nothing is copied from elsewhere.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLYWHEEL = os.path.join(ROOT, "target", "release", "flywheel")
ADMIN_KEY = "bench-admin-key-0123456789abcdef"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run_measured(cmd, env=None, cwd=None):
    """Runs a command; returns (seconds, peak RSS in bytes, stdout, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    # ru_maxrss of the children so far is the largest of them; measure one at a time.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, rss, out, err


def peak_rss_of(cmd, env=None):
    """Peak RSS of one command alone, via a fresh Python child so earlier children do not count."""
    probe = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "print(json.dumps({'rc': p.returncode, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, 'err': p.stderr[-2000:]}))\n"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result['err']}")
    return seconds, result["rss"]


def size_of(paths):
    return sum(os.path.getsize(p) for p in paths if os.path.exists(p))


def fw_env(db):
    env = dict(os.environ)
    env.update({"FLYWHEEL_DB": db, "FLYWHEEL_ADMIN_KEY": ADMIN_KEY, "FLYWHEEL_LOG": "warn"})
    return env


# ---------------------------------------------------------------------------------------
# Data


def generate(work, members, events):
    path = os.path.join(work, "events.jsonl")
    log(f"generating {members:,} members' history with flywheel demo --export")
    secs, _, out, err = run_measured([FLYWHEEL, "demo", "--members", str(members), "--seed", "42", "--export", path])
    if events:
        kept = os.path.join(work, "events.capped.jsonl")
        with open(path) as src, open(kept, "w") as dst:
            for i, line in enumerate(src):
                if i >= events:
                    break
                dst.write(line)
        os.replace(kept, path)
    with open(path) as f:
        count = sum(1 for _ in f)
    log(f"{count:,} events in {secs:.1f} s")
    return path, count


# ---------------------------------------------------------------------------------------
# Flywheel


def flywheel_import(path, db, files):
    secs, rss = peak_rss_of([FLYWHEEL, "import", path, "--db", db], env=fw_env(db))
    return {"seconds": secs, "peak_rss": rss, "db_bytes": size_of(files)}


def flywheel_step(args, db):
    secs, rss = peak_rss_of([FLYWHEEL, *args, "--db", db], env=fw_env(db))
    return {"seconds": secs, "peak_rss": rss}


# Twenty segments of the kinds a loyalty team saves (issue 16): windows, stages, facts,
# profile, tags, scores. The import with them defined is compared with the one without.
TWENTY_SEGMENTS = [
    "purchases_within(30d) >= 1", "purchases_within(90d) >= 2", "spent_within(180d) >= 200",
    "stage >= strong", "stage = weak and purchase_count >= 2", "lens >= sticky",
    "days_since_last_purchase >= 180", "interactions_within(7d) >= 1", "likes >= 10",
    "shares >= 3 or referrals_converted >= 1", "open_complaint", "birthday_within(7d)",
    'city = "Shanghai"', "age >= 30 and age < 40", 'tag("vip")', 'category("milk_tea") >= 3',
    "total_spent >= 1000", "skus_bought_three_times >= 1", "super_user >= 0.5",
    "not purchases_within(365d) >= 1 and events >= 3",
]
# The preview goal's three conditions.
PREVIEW = "stage >= weak and purchases_within(90d) >= 1 and not open_complaint"


def segments_import(path, work):
    """Imports the file again into a fresh SQLite database on which the twenty segments
    were defined first (each filled at once: the database is empty)."""
    f = os.path.join(work, "segments.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f + suffix):
            os.remove(f + suffix)
    db = f"sqlite://{f}"
    subprocess.run([FLYWHEEL, "migrate", "--db", db], env=fw_env(db), check=True, capture_output=True)
    for i, expression in enumerate(TWENTY_SEGMENTS):
        subprocess.run([FLYWHEEL, "segments", "define", f"bench{i:02}", expression, "--db", db],
                       env=fw_env(db), check=True, capture_output=True)
    out = flywheel_import(path, db, [f, f + "-wal"])
    out["segments"] = len(TWENTY_SEGMENTS)
    return out


def segment_preview(db):
    """The count of a three-condition expression, as the store times its query
    (median of three, after one warm-up)."""
    times = []
    for _ in range(4):
        out = subprocess.run([FLYWHEEL, "segments", "count", PREVIEW, "--db", db], env=fw_env(db),
                             check=True, capture_output=True, text=True).stdout
        count, ms = re.match(r"(\d+) members in ([\d.]+) ms", out.strip()).groups()
        times.append(float(ms) / 1000)
    return {"seconds": statistics.median(times[1:]), "count": int(count)}


def count_members(db_file):
    with sqlite3.connect(db_file) as c:
        return c.execute("SELECT COUNT(*) FROM members WHERE merged_into IS NULL").fetchone()[0]


WRK_SCRIPT = r"""
-- One new event per request: a like, a check-in or a purchase by one of 50,000 phones.
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  thread_id = tid
  math.randomseed(tid * 7919)
end
local kinds = {"like", "check_in", "purchase"}
function request()
  counter = counter + 1
  local kind = kinds[math.random(1, 3)]
  local phone = string.format("139%08d", math.random(0, 49999))
  local props = "{}"
  if kind == "purchase" then
    props = string.format('{"order_id": "wrk-%s-%d-%d", "amount": "%d.00"}', RUN, thread_id, counter, math.random(5, 90))
  end
  local body = string.format(
    '{"event_id": "wrk-%s-%d-%d", "type": "%s", "occurred_at": "%s", "channel": "app", "identities": {"phone": "%s"}, "properties": %s}',
    RUN, thread_id, counter, kind, os.date("!%Y-%m-%dT%H:%M:%SZ"), phone, props)
  return wrk.format("POST", "/v1/events", HEADERS, body)
end
"""


def start_server(db):
    """`flywheel serve` on a free port, once it answers /health: (process, port, the
    SQLite library it links)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen([FLYWHEEL, "serve", "--db", db, "--listen", f"127.0.0.1:{port}"],
                              env=fw_env(db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = None
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                # The SQLite library Flywheel links (bundled by libsqlite3-sys), which
                # is not the system's that Python's baseline uses.
                engine = json.load(answer).get("database_version")
            break
        except Exception:
            time.sleep(0.1)
    return server, port, engine


def cockpit_pages(db, db_file):
    """The cockpit as a person uses it: signed in with the admin key, the overview, the
    value page and a till lookup by phone, each timed end to end over HTTP (median of
    five, after one warm-up)."""
    import http.cookiejar

    with sqlite3.connect(db_file) as c:
        phone = c.execute("SELECT value FROM identities WHERE kind = 'phone' ORDER BY key LIMIT 1").fetchone()[0]
    server, port, _ = start_server(db)
    base = f"http://127.0.0.1:{port}"
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = opener.open(base + "/login", timeout=60).read().decode()
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
        body = urllib.parse.urlencode({"key": ADMIN_KEY, "csrf": csrf, "next": "/"}).encode()
        opener.open(base + "/login", data=body, timeout=600).read()
        out = {}
        for name, path in [("overview", "/"), ("value", "/value"),
                           ("till", "/till?" + urllib.parse.urlencode({"q": phone}))]:
            times = []
            for _ in range(6):
                started = time.perf_counter()
                page = opener.open(base + path, timeout=600).read().decode()
                times.append(time.perf_counter() - started)
            if name == "till" and "till-result" not in page:
                raise RuntimeError("the till found nobody for " + phone)
            out[name] = {"seconds": statistics.median(times[1:]), "first": times[0]}
        return out
    finally:
        server.terminate()
        server.wait()


def http_ingest(db, seconds):
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    server, port, engine = start_server(db)
    try:
        script = os.path.join(os.path.dirname(db.replace("sqlite://", "")) or ".", "ingest.lua")
        headers = '{["Authorization"] = "Bearer ' + ADMIN_KEY + '", ["Content-Type"] = "application/json"}'
        runs = []
        # Twice in a row on the same server: the first run starts with cold caches, the
        # second shows the server warmed up. Both are reported.
        for run in ("cold", "warm"):
            with open(script, "w") as f:
                f.write(f'RUN = "{run}{int(time.time())}"\nHEADERS = {headers}\n' + WRK_SCRIPT)
            out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", script,
                                  f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
            runs.append(wrk_figures(out, seconds))
    finally:
        server.terminate()
        server.wait()
    cold, warm = runs
    return {**warm, "cold": cold, "engine": engine}


BATCH_USERS = 5000
BATCH_SIZE = 100


def batch_workload():
    """The same shop traffic twice — as native events for `/v1/events/batch` and as
    Segment calls for `/v1/batch` — for BATCH_USERS app users: an identify with a phone,
    four orders of two products and three product views each (eight events a user), cut into
    request bodies of 100, encoded beforehand so only the server is timed."""
    native, calls = [], []
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    for u in range(BATCH_USERS):
        user, phone = f"bench-user-{u}", f"139{u:08d}"
        at = lambda n: (start + dt.timedelta(minutes=u * 10 + n)).isoformat().replace("+00:00", "Z")
        native.append({"event_id": f"n-{u}-id", "type": "profile_update", "occurred_at": at(0), "channel": "app",
                       "identities": {"external_id": user, "phone": phone}, "properties": {"name": f"User {u}"}})
        calls.append({"type": "identify", "messageId": f"s-{u}-id", "timestamp": at(0), "userId": user,
                      "traits": {"name": f"User {u}", "phone": phone}})
        for n in range(4):
            order = f"{user}-o{n}"
            native.append({"event_id": f"n-{u}-o{n}", "type": "purchase", "occurred_at": at(n + 1), "channel": "app",
                           "identities": {"external_id": user},
                           "properties": {"order_id": order, "amount": "128.00", "currency": "CNY",
                                          "items": [{"sku": "OOLONG-250", "category": "tea", "qty": 2, "price": "50.00"},
                                                    {"sku": "CUP-1", "category": "ware", "qty": 1, "price": "28.00"}]}})
            calls.append({"type": "track", "event": "Order Completed", "messageId": f"s-{u}-o{n}", "timestamp": at(n + 1),
                          "userId": user,
                          "properties": {"order_id": order, "total": 128, "currency": "CNY",
                                         "products": [{"sku": "OOLONG-250", "category": "tea", "quantity": 2, "price": 50},
                                                      {"sku": "CUP-1", "category": "ware", "quantity": 1, "price": 28}]}})
        for n in range(3):
            native.append({"event_id": f"n-{u}-v{n}", "type": "product_viewed", "occurred_at": at(n + 5), "channel": "app",
                           "identities": {"external_id": user}, "properties": {"sku": "OOLONG-250"}})
            calls.append({"type": "track", "event": "Product Viewed", "messageId": f"s-{u}-v{n}", "timestamp": at(n + 5),
                          "userId": user, "properties": {"sku": "OOLONG-250"}})
    chunks = lambda xs: [xs[i:i + BATCH_SIZE] for i in range(0, len(xs), BATCH_SIZE)]
    return ([json.dumps({"events": c}).encode() for c in chunks(native)],
            [json.dumps({"batch": c, "sentAt": dt.datetime.now(dt.timezone.utc).isoformat()}).encode() for c in chunks(calls)],
            len(native))


def batch_ingest(work):
    """Batches of 100 over HTTP into a fresh SQLite database, two clients at once: the
    native `/v1/events/batch` and the tracking protocol's `/v1/batch` on the same
    traffic. Each endpoint gets its own fresh server and database."""
    import base64
    import http.client
    import threading

    native, calls, events = batch_workload()
    out = {"events": events, "batch_size": BATCH_SIZE}
    for name, path, bodies, auth in [
        ("native", "/v1/events/batch", native, "Bearer " + ADMIN_KEY),
        ("protocol", "/v1/batch", calls, "Basic " + base64.b64encode((ADMIN_KEY + ":").encode()).decode()),
    ]:
        db_file = os.path.join(work, f"batch-{name}.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db_file + suffix):
                os.remove(db_file + suffix)
        server, port, _ = start_server(f"sqlite://{db_file}")
        todo = list(reversed(bodies))
        lock = threading.Lock()
        failures = []

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop()
                conn.request("POST", path, body, {"Authorization": auth, "Content-Type": "application/json"})
                answer = conn.getresponse()
                text = answer.read()
                if answer.status != 200:
                    failures.append(f"{answer.status}: {text[:300]!r}")

        try:
            threads = [threading.Thread(target=client) for _ in range(2)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
            with sqlite3.connect(db_file) as c:
                stored = c.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            server.terminate()
            server.wait()
        if failures:
            raise RuntimeError(f"{path} refused {len(failures)} batches, the first: {failures[0]}")
        if stored < events:
            raise RuntimeError(f"{path} stored {stored} of {events} events")
        out[name] = {"seconds": seconds, "events_per_s": events / seconds}
    return out


def wrk_figures(out, seconds):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"requests_per_s": rps, "p50_ms": latency(50), "p99_ms": latency(99),
            "non_2xx": int(errors.group(1)) if errors else 0, "seconds": seconds}


# ---------------------------------------------------------------------------------------
# Baselines


def raw_sqlite_insert(path, work):
    """The floor for merely storing the events: parse each line, insert it with one
    prepared statement, all in one transaction."""
    db = os.path.join(work, "raw.db")
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    start = time.perf_counter()
    c = sqlite3.connect(db)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, type TEXT, occurred_at TEXT, channel TEXT, identities TEXT, properties TEXT)")

    def rows():
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                yield (e["event_id"], e["type"], e["occurred_at"], e["channel"],
                       json.dumps(e["identities"]), json.dumps(e.get("properties", {})))

    with c:
        c.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows())
    c.close()
    return {"seconds": time.perf_counter() - start, "db_bytes": size_of([db, db + "-wal"])}


def pg_copy(path, work, admin_url):
    """PostgreSQL COPY of the same lines into one jsonb column (the file is escaped for
    COPY's text format beforehand, untimed)."""
    psql = shutil.which("psql") or os.path.join(os.environ.get("PGBIN", ""), "psql")
    escaped = os.path.join(work, "events.copy")
    with open(path) as src, open(escaped, "w") as dst:
        for line in src:
            dst.write(line.rstrip("\n").replace("\\", "\\\\") + "\n")
    subprocess.run([psql, admin_url, "-q", "-c", "DROP TABLE IF EXISTS raw_events; CREATE TABLE raw_events (doc jsonb)"],
                   check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([psql, admin_url, "-q", "-c", f"\\copy raw_events (doc) FROM '{escaped}'"], check=True, capture_output=True)
    return {"seconds": time.perf_counter() - start}


def purchases_frame(path):
    """The purchases as (customer, occurred_at, amount) rows: the customer is the event's
    phone, else its first identity (the raw data has no member ids)."""
    rows = []
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e["type"] != "purchase":
                continue
            ids = e["identities"]
            customer = ids.get("phone") or next(iter(ids.values()))
            rows.append((customer, e["occurred_at"], float(e["properties"]["amount"])))
    return rows


RFM_SQL = """
WITH per AS (
  SELECT customer, date_diff('day', CAST(max(ts) AS DATE), DATE '{today}') AS recency,
         count(*) AS frequency, sum(amount) AS monetary
  FROM purchases GROUP BY customer
), n AS (SELECT count(*) AS n FROM per)
SELECT customer,
  1 + floor(5 * (rank() OVER (ORDER BY recency DESC) - 1) / n) AS r,
  1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1) / n) AS f,
  1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1) / n) AS m
FROM per, n
"""


def rfm_duckdb(rows, today):
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    frame = pd.DataFrame(rows, columns=["customer", "ts", "amount"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").dt.tz_localize(None)
    con.execute("CREATE TABLE purchases AS SELECT * FROM frame")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = con.execute(f"CREATE OR REPLACE TABLE rfm AS {RFM_SQL.format(today=today)}").fetchall()
        times.append(time.perf_counter() - start)
    customers = con.execute("SELECT count(*) FROM rfm").fetchone()[0]
    del result
    return {"seconds": statistics.median(times), "customers": customers, "version": duckdb.__version__}


def rfm_pandas(rows, today):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["customer", "at", "amount"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    now = pd.Timestamp(today, tz="UTC")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        per = frame.groupby("customer").agg(last=("at", "max"), frequency=("at", "size"), monetary=("amount", "sum"))
        per["recency"] = (now - per["last"].dt.floor("D")).dt.days
        n = len(per)
        per["r"] = 1 + (5 * (per["recency"].rank(method="min", ascending=False) - 1) // n)
        per["f"] = 1 + (5 * (per["frequency"].rank(method="min") - 1) // n)
        per["m"] = 1 + (5 * (per["monetary"].rank(method="min") - 1) // n)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "customers": n, "version": pd.__version__}


def cdnow_csv(work):
    path = os.path.join(work, "cdnow.csv")
    with open(os.path.join(ROOT, "fixtures", "cdnow", "CDNOW_sample.txt")) as src, open(path, "w") as dst:
        dst.write("customer_id,date,amount\n")
        for line in src:
            f = line.split()
            dst.write(f"{f[1]},{f[2]},{f[4]}\n")
    return path


def bgnbd_flywheel(csv):
    """The fit alone (as `flywheel clv fit --json` times it), and the whole process."""
    fits, processes = [], []
    for _ in range(5):
        start = time.perf_counter()
        out = subprocess.run([FLYWHEEL, "clv", "fit", "--transactions", csv, "--calibration-end", "1997-09-30",
                              "--period", "week", "--json"], capture_output=True, text=True, check=True).stdout
        processes.append(time.perf_counter() - start)
        fits.append(json.loads(out)["timings"]["bgnbd_fit_ms"] / 1000)
    fit = json.loads(out)["bgnbd"]
    return {"seconds": statistics.median(fits), "process_seconds": statistics.median(processes),
            "r": fit["r"], "alpha": fit["alpha"], "a": fit["a"], "b": fit["b"]}


def bgnbd_lifetimes(csv):
    """lifetimes' BetaGeoFitter.fit on the same summaries (built beforehand, untimed)."""
    import warnings

    import lifetimes
    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    warnings.simplefilter("ignore")
    df = pd.read_csv(csv, dtype={"customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    s = summary_data_from_transaction_data(df, "customer_id", "date", observation_period_end="1997-09-30", freq="D")
    s["recency"] /= 7
    s["T"] /= 7
    times = []
    for _ in range(5):
        bg = BetaGeoFitter()
        start = time.perf_counter()
        bg.fit(s["frequency"], s["recency"], s["T"])
        times.append(time.perf_counter() - start)
    p = bg.params_
    return {"seconds": statistics.median(times), "r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"],
            "version": lifetimes.__version__}


# ---------------------------------------------------------------------------------------
# Report


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": mem_kib / 1024 / 1024, "kernel": platform.release(),
            "git": git, "rustc": rustc, "sqlite": sqlite3.sqlite_version, "python": platform.python_version()}


def checkpoint(work, r):
    """Keeps what was measured so far, so a failure late in a long run loses nothing."""
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(r, f, indent=2, default=str)


def mib(b):
    return f"{b / 1024 / 1024:,.0f} MiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, required=True)
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--http-seconds", type=int, default=20)
    ap.add_argument("--work", required=True)
    ap.add_argument("--label", default="full")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    admin_url = os.environ.get("PG_ADMIN_URL")
    today = dt.date.today().isoformat()
    r = {"machine": machine(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "label": args.label}

    path, events = generate(args.work, args.members, args.events)
    r["events"] = events

    sqlite_file = os.path.join(args.work, "flywheel.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(sqlite_file + suffix):
            os.remove(sqlite_file + suffix)
    db = f"sqlite://{sqlite_file}"
    log("Flywheel import into SQLite")
    r["import_sqlite"] = flywheel_import(path, db, [sqlite_file, sqlite_file + "-wal"])
    r["members"] = count_members(sqlite_file)
    checkpoint(args.work, r)
    log("stage sweep over all members")
    r["sweep"] = flywheel_step(["sweep", "--all"], db)
    checkpoint(args.work, r)
    log("score recompute")
    r["recompute"] = flywheel_step(["scores", "recompute"], db)
    checkpoint(args.work, r)
    log("cockpit pages: overview, value, till lookup")
    r["cockpit"] = cockpit_pages(db, sqlite_file)
    checkpoint(args.work, r)
    log("segment preview: three conditions over every member")
    r["preview"] = segment_preview(db)
    checkpoint(args.work, r)
    log("Flywheel import into SQLite with twenty segments defined")
    r["import_segments"] = segments_import(path, args.work)
    checkpoint(args.work, r)
    log("single-event HTTP ingest (wrk, 32 connections)")
    r["http"] = http_ingest(db, args.http_seconds)
    checkpoint(args.work, r)
    log("batch HTTP ingest: native /v1/events/batch and the tracking protocol's /v1/batch")
    r["batch_http"] = batch_ingest(args.work)
    checkpoint(args.work, r)

    if admin_url:
        log("Flywheel import into PostgreSQL")
        psql = shutil.which("psql") or os.path.join(os.environ.get("PGBIN", ""), "psql")
        subprocess.run([psql, admin_url, "-q", "-c", "DROP DATABASE IF EXISTS flywheel_bench", "-c", "CREATE DATABASE flywheel_bench"],
                       check=True, capture_output=True)
        pg_db = admin_url.rsplit("/", 1)[0] + "/flywheel_bench"
        r["import_postgres"] = flywheel_import(path, pg_db, [])
        checkpoint(args.work, r)
        log("baseline: PostgreSQL COPY")
        r["pg_copy"] = pg_copy(path, args.work, admin_url)
        r["postgres_version"] = subprocess.run([psql, admin_url, "-Atc", "SHOW server_version"], capture_output=True, text=True).stdout.strip()

    log("baseline: raw SQLite insert")
    r["raw_sqlite"] = raw_sqlite_insert(path, args.work)
    checkpoint(args.work, r)
    log("baseline: RFM in DuckDB and pandas")
    rows = purchases_frame(path)
    r["purchases"] = len(rows)
    r["rfm_duckdb"] = rfm_duckdb(rows, today)
    r["rfm_pandas"] = rfm_pandas(rows, today)
    log("BG/NBD on CDNOW: Flywheel and lifetimes")
    csv = cdnow_csv(args.work)
    r["bgnbd_flywheel"] = bgnbd_flywheel(csv)
    r["bgnbd_lifetimes"] = bgnbd_lifetimes(csv)

    checkpoint(args.work, r)
    report = render(r)
    print(report)
    # RESULTS.md is the last run of any size; a full-size run is also kept on its own,
    # so a later --quick does not erase the only figures at a million members.
    names = ["RESULTS.md"] + (["RESULTS-full.md"] if args.label == "full" else [])
    for name in names:
        with open(os.path.join(HERE, name), "w") as f:
            f.write(report)
        log(f"wrote bench/{name}")


def render(r):
    m = r["machine"]
    ev = r["events"]
    imp = r["import_sqlite"]
    fw_rate = ev / imp["seconds"]
    raw_rate = ev / r["raw_sqlite"]["seconds"]
    lines = [
        "# Flywheel benchmark results",
        "",
        f"Run `{r['label']}` on {r['date']}: {m['cores']} cores ({m['cpu']}), {m['memory_gib']:.1f} GiB, "
        f"Linux {m['kernel']}; Flywheel {m['git']} built with {m['rustc']}, linking "
        f"{r['http'].get('engine') or 'SQLite (version not read)'}; the raw-insert baseline's SQLite {m['sqlite']} (Python's)"
        + (f"; PostgreSQL {r['postgres_version']}" if "postgres_version" in r else "")
        + f"; DuckDB {r['rfm_duckdb']['version']}, pandas {r['rfm_pandas']['version']}, lifetimes {r['bgnbd_lifetimes']['version']} (Python {m['python']}).",
        "",
        f"Data: `flywheel demo` history (seed 42) — {ev:,} events, {r['members']:,} members after identity resolution, "
        f"{r['purchases']:,} purchases. Every figure below was measured in this run; ratios are Flywheel ÷ baseline "
        "(for rates) or baseline ÷ Flywheel (for times), so above 1 means Flywheel is ahead.",
        "",
        "| measure | Flywheel | baseline | ratio |",
        "|---|---|---|---|",
        f"| import into SQLite (events/s) | {fw_rate:,.0f} | raw insert, one transaction: {raw_rate:,.0f} | {fw_rate / raw_rate:.3f} |",
    ]
    if "import_postgres" in r:
        pg_rate = ev / r["import_postgres"]["seconds"]
        copy_rate = ev / r["pg_copy"]["seconds"]
        lines.append(f"| import into PostgreSQL (events/s) | {pg_rate:,.0f} | COPY into jsonb: {copy_rate:,.0f} | {pg_rate / copy_rate:.3f} |")
    h = r["http"]
    if "skipped" in h:
        lines.append(f"| single-event HTTP ingest | skipped: {h['skipped']} | | |")
    else:
        cold = h.get("cold")
        first = (f" (the {cold['seconds']} s before, from a cold start: {cold['requests_per_s']:,.0f} req/s, "
                 f"p50 {cold['p50_ms']:.1f} ms, p99 {cold['p99_ms']:.1f} ms, {cold['non_2xx']} errors)") if cold else ""
        lines.append(f"| single-event HTTP ingest, 32 connections, {h['seconds']} s | {h['requests_per_s']:,.0f} req/s, p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.1f} ms, {h['non_2xx']} errors{first} | | |")
    if "batch_http" in r:
        b = r["batch_http"]
        lines.append(f"| batch HTTP ingest into a fresh SQLite, {b['events']:,} events in bodies of {b['batch_size']}, 2 clients: "
                     f"tracking protocol `/v1/batch` (events/s) | {b['protocol']['events_per_s']:,.0f} | native `/v1/events/batch`: "
                     f"{b['native']['events_per_s']:,.0f} | {b['protocol']['events_per_s'] / b['native']['events_per_s']:.3f} |")
    rec = r["recompute"]["seconds"]
    duck = r["rfm_duckdb"]["seconds"]
    lines += [
        f"| stage sweep over all members | {r['sweep']['seconds']:.1f} s | | |",
        f"| score recompute ({r['members']:,} members: RFM, lifetime value, super user, influence, intimacy) | {rec:.2f} s | DuckDB RFM of the purchases: {duck:.3f} s; pandas: {r['rfm_pandas']['seconds']:.3f} s | {duck / rec:.3f} (DuckDB) |",
        f"| BG/NBD fit on CDNOW | {r['bgnbd_flywheel']['seconds'] * 1000:.1f} ms (whole `flywheel clv fit` process: {r['bgnbd_flywheel']['process_seconds'] * 1000:.0f} ms) | lifetimes `BetaGeoFitter.fit`: {r['bgnbd_lifetimes']['seconds'] * 1000:.0f} ms | {r['bgnbd_lifetimes']['seconds'] / r['bgnbd_flywheel']['seconds']:.1f}× |",
        f"| peak RSS, SQLite import / sweep / recompute | {mib(imp['peak_rss'])} / {mib(r['sweep']['peak_rss'])} / {mib(r['recompute']['peak_rss'])} | | |",
        f"| database size on disk (SQLite) | {mib(imp['db_bytes'])} | raw events table: {mib(r['raw_sqlite']['db_bytes'])} | |",
    ]
    if "preview" in r:
        lines.append(f"| segment preview, `{PREVIEW}`, over {r['members']:,} members | {r['preview']['seconds']:.2f} s ({r['preview']['count']:,} members) | | |")
    if "cockpit" in r:
        ck = r["cockpit"]
        lines.append(f"| cockpit page over HTTP, signed in: overview / value / till lookup by phone (median of five warm; first) | "
                     f"{ck['overview']['seconds'] * 1000:.0f} / {ck['value']['seconds'] * 1000:.0f} / {ck['till']['seconds'] * 1000:.1f} ms "
                     f"({ck['overview']['first'] * 1000:.0f} / {ck['value']['first'] * 1000:.0f} / {ck['till']['first'] * 1000:.1f} ms) | | |")
    if "import_segments" in r:
        seg_rate = ev / r["import_segments"]["seconds"]
        lines.append(f"| import into SQLite with {r['import_segments']['segments']} segments kept current (events/s) | {seg_rate:,.0f} | the same import without segments: {fw_rate:,.0f} | {seg_rate / fw_rate:.3f} |")
    lines += [
        "",
        "## Goals",
        "",
    ]
    peak = max(imp["peak_rss"], r["sweep"]["peak_rss"], r["recompute"]["peak_rss"])
    # The ingest engine's goals (issue 14), then the earlier ones still standing.
    goals = [("import on SQLite ≥ 0.5× the raw insert", fw_rate / raw_rate >= 0.5, f"{fw_rate / raw_rate:.3f}×")]
    if r["label"] == "quick":
        goals.append(("import on SQLite ≥ 40,000 events/s (`--quick`)", fw_rate >= 40_000, f"{fw_rate:,.0f} events/s"))
    if "import_postgres" in r:
        goals.append(("import on PostgreSQL ≥ 0.2× COPY", pg_rate / copy_rate >= 0.2, f"{pg_rate / copy_rate:.3f}×"))
    if "skipped" not in h:
        for name, run in (("warm", h), ("from a cold start", h.get("cold"))):
            if run:
                goals.append((f"HTTP ingest ≥ 10,000 req/s with p99 < 20 ms, {name}",
                              run["requests_per_s"] >= 10_000 and run["p99_ms"] < 20,
                              f"{run['requests_per_s']:,.0f} req/s, p99 {run['p99_ms']:.1f} ms"))
    goals += [
        ("score recompute faster than DuckDB's RFM aggregation", rec < duck, f"{rec:.2f} s vs {duck:.3f} s"),
        ("BG/NBD fit ≥ 10× faster than lifetimes", r["bgnbd_lifetimes"]["seconds"] / r["bgnbd_flywheel"]["seconds"] >= 10,
         f"{r['bgnbd_lifetimes']['seconds'] / r['bgnbd_flywheel']['seconds']:.1f}×"),
        (f"peak RSS < 1 GiB (at {r['members']:,} members)", peak < 1024 ** 3, mib(peak)),
    ]
    if "preview" in r:
        goals.append((f"segment preview of three conditions < 1 s (at {r['members']:,} members)",
                      r["preview"]["seconds"] < 1, f"{r['preview']['seconds']:.2f} s"))
    if "cockpit" in r:
        ck = r["cockpit"]
        goals.append((f"cockpit overview < 500 ms (at {r['members']:,} members)", ck["overview"]["seconds"] < 0.5,
                      f"{ck['overview']['seconds'] * 1000:.0f} ms"))
        goals.append((f"till lookup by phone < 50 ms (at {r['members']:,} members)", ck["till"]["seconds"] < 0.05,
                      f"{ck['till']['seconds'] * 1000:.1f} ms"))
    if "import_segments" in r:
        goals.append(("twenty segments cost import < 10%", seg_rate / fw_rate >= 0.9, f"{seg_rate / fw_rate:.3f}× the rate without"))
    for name, met, figure in goals:
        lines.append(f"- {'met' if met else '**missed**'}: {name} — {figure}")
    lines += [
        "",
        "BG/NBD parameters on CDNOW in this run — Flywheel: r = {r:.4f}, α = {alpha:.4f}, a = {a:.4f}, b = {b:.4f}; ".format(**r["bgnbd_flywheel"])
        + "lifetimes: r = {r:.4f}, α = {alpha:.4f}, a = {a:.4f}, b = {b:.4f}.".format(**r["bgnbd_lifetimes"]),
        "",
        "How each figure is taken: imports are `flywheel import FILE --db …` end to end (reading, parsing, identity "
        "resolution, facts, stages and points, committed, in its default transactions of 10,000 events); single-event HTTP ingest is `wrk` posting one new event per request to `flywheel serve` "
        "on the imported SQLite database, on the same two cores as the server, twice in a row: the table and the "
        "goal use the second run, and the first, from a cold start, is given beside it (the server commits the events "
        "waiting together, each answered after the commit); batch HTTP ingest posts the same "
        f"{BATCH_USERS * 8:,} events of {BATCH_USERS:,} app users "
        "(`batch_workload` in bench.py: an identify, four orders, three product views each) once as native events to "
        "`/v1/events/batch` and once as Segment calls to the tracking protocol's `/v1/batch`, 100 to a request from two "
        "client threads, each into its own fresh server and SQLite database, timed from the first request to the last "
        "answer; the raw SQLite baseline parses each line with Python's json "
        "and inserts it with one prepared statement in one transaction; COPY loads the same lines into one jsonb column "
        "(the file escaped for COPY beforehand, untimed); the throwaway PostgreSQL runs with its default durability "
        "settings. RFM baselines start from the purchases already in memory (DuckDB table / pandas frame) and time the "
        "aggregation and the three rank scores, median of three. BG/NBD: both figures are the fit alone on summaries "
        "built beforehand (Flywheel's as `flywheel clv fit --json` reports it in `timings`), median of five; the whole "
        "Flywheel process, reading the CSV and fitting Gamma-Gamma too, is given beside it. Peak RSS is the process's maximum resident set size. "
        "The segment preview is `flywheel segments count` on the imported database, the query's own time as it prints it "
        "(median of three after a warm-up); the import with segments is the same file into a fresh database on which "
        "twenty segments (`TWENTY_SEGMENTS` in bench.py) were defined first, every member's entries and exits written in "
        "the transaction of the events that cause them. A segment entry is visible to `GET /v1/members/{id}/segments` in "
        "the answer's own transaction (0 ms lag by construction; the API tests check it after each event).",
        "",
        "What limits each missed goal — profiles, and what was changed because of them — is in "
        "[PROFILE.md](PROFILE.md) (written by hand; its figures are from the runs it names, not this one).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
