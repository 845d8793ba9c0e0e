"""Benchmark driver: the exporter against the SQL-exporter way, on the same loaded PostgreSQL.

Run through bench/run.sh (it builds the release binary and the venv). Per history size it:
loads a fresh database, measures the exporter (cold start, steady state with writes between
scrapes, catch-up after a pause, memory, output size, database time per scrape from the server
log), checks exactness against SQL, then measures query-exporter and the raw SQL on the same
data. Results go to bench/results/<db>.json; bench/report.py turns them into BENCHMARKS.md.
"""

import argparse
import gzip
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg2
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = ROOT / "target/dist/webhook-health-exporter"
ENCODE_BIN = ROOT / "target/dist/examples/bench_encode"
QE_BIN = BENCH / ".venv/bin/query-exporter"

REASONS = ["missing_auth", "invalid_auth", "invalid_payload", "payload_too_large",
           "unknown_organization", "unsupported_event", "duplicate", "rate_limited",
           "internal_error"]
WINDOWS = {"1h": 3600, "24h": 86400}

# Accepted payloads received after a moment that are neither synced, nor waiting or in flight in
# the queue, nor given up: the exporter's webhook_sync_window_events_unaccounted, per org.
UNACCOUNTED_SQL = """
    SELECT e.org_id, count(*) FROM webhook_events e
    WHERE e.outcome = 'accepted' AND e.received_at > to_timestamp(%(t)s) - make_interval(secs => %(w)s)
      AND NOT EXISTS (SELECT 1 FROM sync_attempts s
                      WHERE s.event_id = e.event_id AND s.outcome IN ('succeeded', 'gave_up'))
      AND NOT EXISTS (SELECT 1 FROM sync_queue q
                      WHERE q.event_id = e.event_id AND q.state IN ('pending', 'processing'))
    GROUP BY e.org_id"""

# Only the measured process's sessions log their statements (a per-session setting, so nothing
# changes for anyone else on the server); the server log then holds its exact database time.
LOG_OPTS = "options=" + quote("-c log_min_duration_statement=0")


def loadavg(phase):
    """The machine's load (1, 5, 15 minutes) at a phase: the bench shares 2 cores with others."""
    return {"phase": phase, "at": time.strftime("%H:%M:%S"), "loadavg": list(os.getloadavg())}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q))]


def summary(values):
    return {"n": len(values), "p50": pct(values, 0.5), "p99": pct(values, 0.99),
            "max": max(values), "mean": statistics.fmean(values)}


class ServerLog:
    """Statement durations the server logged for one database since a mark."""

    LINE = re.compile(r"\[(\d+)\] \S+@(\S+) LOG:  duration: ([0-9.]+) ms  (parse|bind|execute|statement)")

    def __init__(self, path, db):
        self.path, self.db = Path(path), db
        self.offset = 0

    def available(self):
        return os.access(self.path, os.R_OK)

    def mark(self):
        if self.available():
            self.offset = self.path.stat().st_size

    def read(self):
        """Since the mark: (milliseconds over all statement phases, statements executed)."""
        if not self.available():
            return None
        total, count = 0.0, 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            for raw in f:
                m = self.LINE.search(raw.decode("utf-8", "replace"))
                if m and m.group(2) == self.db:
                    total += float(m.group(3))
                    count += m.group(4) in ("execute", "statement")
        return total, count


class Scraper:
    """One keep-alive connection; `gzip` asks for gzip as Prometheus does (the latency then
    includes compressing, sending and inflating). `wire_bytes` is the last body as sent."""

    def __init__(self, port, accept=None, gzip=False):
        self.port, self.accept, self.gzip = port, accept, gzip
        self.conn = None
        self.wire_bytes = 0

    def get(self, timeout=300):
        headers = {"Accept": self.accept} if self.accept else {}
        if self.gzip:
            headers["Accept-Encoding"] = "gzip"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                t = time.perf_counter()
                self.conn.request("GET", "/metrics", headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                self.wire_bytes = len(body)
                self.wire, self.content_type = body, resp.getheader("Content-Type")
                if resp.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return time.perf_counter() - t, resp.status, body.decode()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(parsed, name, **labels):
    return parsed.get((name, tuple(sorted(labels.items()))))


def series_count(text):
    return sum(1 for l in text.splitlines() if l and not l.startswith("#"))


def series_per_org(text):
    """How many series each organization has: the fewest (a quiet org), the median, the most."""
    per = {}
    for (_, labels) in parse_metrics(text):
        org = dict(labels).get("org")
        if org is not None and org != "_unknown":
            per[org] = per.get(org, 0) + 1
    if not per:
        return None
    n = sorted(per.values())
    return {"orgs": len(n), "min": n[0], "median": n[len(n) // 2], "max": n[-1]}


def proc_mem(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                fields[k] = int(v.split()[0]) / 1024.0  # MiB
    return fields


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Db:
    def __init__(self, admin_url, name):
        self.admin_url, self.name = admin_url, name
        self.url = admin_url.rsplit("/", 1)[0] + "/" + name
        self.conn = None
        self.prepared = False

    def recreate(self):
        c = psycopg2.connect(self.admin_url)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {self.name}")
        c.close()

    def connect(self):
        self.conn = psycopg2.connect(self.url)
        self.conn.autocommit = True
        self.prepared = False

    def q(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None

    def insert_round(self, n, salt, orgs):
        """n new payloads and n new sync-attempt rows in one transaction (bench/round.sql)."""
        if not self.prepared:
            self.q("PREPARE bench_round(bigint, integer, integer) AS " + (BENCH / "round.sql").read_text())
            self.prepared = True
        self.q("EXECUTE bench_round(%s, %s, %s)", (salt, orgs, n))


# ---------------------------------------------------------------------------------------------
# Loading


def load(db, events, orgs, days):
    db.recreate()
    t = time.perf_counter()
    subprocess.run([str(BIN), "migrate", "--database-url", db.url], check=True, capture_output=True)
    migrate_s = time.perf_counter() - t
    t = time.perf_counter()
    chunk = 1_000_000
    subprocess.run(["psql", "-X", "-q", "-v", f"events={events}", "-v", f"orgs={orgs}", "-v", f"days={days}",
                    "-v", f"chunk={chunk}", "-f", str(BENCH / "load.sql"), db.url],
                   check=True, stdout=subprocess.DEVNULL)
    load_s = time.perf_counter() - t
    db.connect()
    sizes = dict(db.q("""SELECT relname, pg_total_relation_size(oid) FROM pg_class
                         WHERE relname IN ('webhook_events','sync_queue','edge_function_events',
                                           'sync_attempts', 'sync_attempt_totals')"""))
    counts = {t: db.q(f"SELECT count(*) FROM {t}")[0][0]
              for t in ("webhook_events", "sync_queue", "edge_function_events", "organizations",
                        "sync_attempts", "sync_attempt_totals")}
    attempts = {f"{o}/{c or 'none'}": n for o, c, n in db.q(
        "SELECT outcome, error_class, count(*) FROM sync_attempts GROUP BY 1, 2 ORDER BY 1, 2")}
    queue = dict(db.q("SELECT state, count(*) FROM sync_queue GROUP BY 1"))
    unaccounted = db.q(UNACCOUNTED_SQL, {"t": time.time(), "w": WINDOWS["24h"]})
    if unaccounted:
        raise SystemExit(f"the loaded history leaves accepted payloads unaccounted for: {unaccounted[:10]}")
    return {"migrate_s": migrate_s, "load_s": load_s, "rows": counts,
            "bytes": {k: int(v) for k, v in sizes.items()}, "attempts": attempts, "queue": queue,
            "unaccounted_24h": 0}


# ---------------------------------------------------------------------------------------------
# The exporter


def start_exporter(db, port):
    url = f"{db.url}?application_name=whe-bench-exporter&{LOG_OPTS}"
    return subprocess.Popen([str(BIN), "serve", "--database-url", url, "--web.listen-address",
                             f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(BENCH / "results" /
                             f"{db.name}.exporter.log", "w"))


def steady_gzip(db, args, port):
    """The steady state again, as Prometheus scrapes: OpenMetrics, gzip."""
    s = Scraper(port, accept="application/openmetrics-text; version=1.0.0", gzip=True)
    lat, wire = [], []
    for i in range(args.scrapes // 3):
        db.insert_round(args.step, 500_009 + i * 7919, args.orgs)
        dt, status, _ = s.get()
        assert status == 200, status
        lat.append(dt * 1e3)
        wire.append(s.wire_bytes)
    return {"latency_ms": summary(lat), "wire_bytes": statistics.median(wire),
            "floor": bench_floor(s.wire, s.content_type, max(args.scrapes // 3, 20))}


def static_fetch(body, content_type, encoding, scrapes):
    """Latencies of the bench's client fetching `body` from a server that does nothing else
    (bench/static_server.py)."""
    port = free_port()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    head += f"Content-Encoding: {encoding}\r\n\r\n" if encoding else "\r\n"
    with tempfile.NamedTemporaryFile(suffix=".http", delete=False) as f:
        f.write(head.encode() + body)
    proc = subprocess.Popen([sys.executable, str(BENCH / "static_server.py"), str(port), f.name],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        s = Scraper(port, gzip=encoding == "gzip")
        return summary([s.get()[0] * 1e3 for _ in range(scrapes)])
    finally:
        proc.kill()
        proc.wait()
        os.unlink(f.name)


def bench_floor(body_gz, content_type, scrapes):
    """The last gzip scrape's very bytes, and the same inflated, fetched by the same client from a
    server that does nothing else: what serving this body costs the client whatever the exporter
    does, and the part of it that is inflating in Python."""
    inflate = []
    for _ in range(scrapes):
        t = time.perf_counter()
        gzip.decompress(body_gz).decode()
        inflate.append((time.perf_counter() - t) * 1e3)
    return {"latency_ms": static_fetch(body_gz, content_type, "gzip", scrapes),
            "text_latency_ms": static_fetch(gzip.decompress(body_gz), content_type, None, scrapes),
            "inflate_ms": summary(inflate), "wire_bytes": len(body_gz)}


def rows_read(parsed, table="webhook_events"):
    return metric(parsed, "webhook_exporter_rows_read_total", table=table) or 0


def bench_exporter(db, args, slog):
    r = {}
    port = free_port()
    slog.mark()
    t0 = time.perf_counter()
    proc = start_exporter(db, port)
    s = Scraper(port, accept="application/openmetrics-text; version=1.0.0")
    first = None
    while True:
        try:
            _, status, body = s.get()
            if first is None:
                first = time.perf_counter() - t0
            if status == 200 and metric(parse_metrics(body), "webhook_store_up") == 1.0:
                r["series_after_start"] = series_count(body)
                r["series_per_org_after_start"] = series_per_org(body)
                break
        except OSError:
            pass
        if time.perf_counter() - t0 > 600:
            raise SystemExit("exporter did not come up in 600 s")
        time.sleep(0.01)
    r["cold_start_s"] = time.perf_counter() - t0
    r["first_response_s"] = first
    r["cold_start_db"] = slog.read()
    r["mem_after_start"] = proc_mem(proc.pid)

    # Steady state: a commit of `step` new payloads and `step` new sync attempts, then a scrape.
    lat, collect, lagged = [], [], 0
    parsed = parse_metrics(s.get()[2])
    before, before_attempts = rows_read(parsed), rows_read(parsed, "sync_attempts")
    r["loadavg"] = [loadavg("steady start")]
    slog.mark()
    for i in range(args.scrapes):
        db.insert_round(args.step, i * 7919, args.orgs)
        dt, status, body = s.get()
        assert status == 200, status
        parsed = parse_metrics(body)
        now_read, now_attempts = rows_read(parsed), rows_read(parsed, "sync_attempts")
        if now_read - before < args.step or now_attempts - before_attempts < args.step:
            lagged += 1  # another session's open transaction held the horizon back
        before, before_attempts = now_read, now_attempts
        lat.append(dt * 1e3)
        collect.append(metric(parsed, "webhook_exporter_collect_duration_seconds") * 1e3)
        if i == args.scrapes // 2:
            r["loadavg"].append(loadavg("steady middle"))
    dbt = slog.read()
    r["loadavg"].append(loadavg("steady end"))
    r["steady"] = {"scrapes": args.scrapes, "step_rows": args.step, "step_attempt_rows": args.step,
                   "latency_ms": summary(lat), "loadavg_1m_after": os.getloadavg()[0],
                   "collect_ms": summary(collect), "scrapes_behind": lagged}
    if dbt:
        r["steady"]["db_ms_per_scrape"] = dbt[0] / args.scrapes
        r["steady"]["statements_per_scrape"] = dbt[1] / args.scrapes
    r["metrics_bytes_openmetrics"] = len(body.encode())
    r["series"] = series_count(body)
    r["series_per_org"] = series_per_org(body)
    text_body = Scraper(port).get()[2]
    r["metrics_bytes_text004"] = len(text_body.encode())
    r["gzip"] = steady_gzip(db, args, port)

    # Catch-up: writes while nobody scrapes, then scrape until everything is read. The counts
    # to reach are taken after the gzip phase (whose own scrapes read its rows).
    parsed = parse_metrics(s.get()[2])
    target = rows_read(parsed) + args.catchup
    target_attempts = rows_read(parsed, "sync_attempts") + args.catchup
    for i in range(args.catchup // 10_000):
        db.insert_round(10_000, 1_000_003 + i * 10_007, args.orgs)
    slog.mark()
    t = time.perf_counter()
    scrapes = 0
    while True:
        dt, status, body = s.get()
        scrapes += 1
        parsed = parse_metrics(body)
        if rows_read(parsed) >= target and rows_read(parsed, "sync_attempts") >= target_attempts:
            break
        if time.perf_counter() - t > 600:
            raise SystemExit("exporter did not catch up in 600 s")
    took = time.perf_counter() - t
    dbt = slog.read()
    r["catchup"] = {"rows": args.catchup, "attempt_rows": args.catchup, "scrapes": scrapes, "seconds": took,
                    "events_per_s": args.catchup / took, "db_ms": dbt[0] if dbt else None}

    r["exactness"] = exactness(db, s)
    if args.rules_seconds > 0:
        r["rules"] = bench_rules(port, args.rules_seconds)
    r["mem"] = proc_mem(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return r


# ---------------------------------------------------------------------------------------------
# The shipped rules in a real Prometheus


def bench_rules(port, seconds):
    """Prometheus (from PATH, as scripts/install-test-deps.sh installs it) scrapes the exporter
    every 5 s and evaluates the shipped recording and alerting rules; its own
    prometheus_rule_group_* metrics say what each group costs. Every group is evaluated every
    5 s here, also those shipped with a coarser `interval:`, so that each runs several times."""
    import shutil
    import tempfile
    prom = shutil.which("prometheus")
    if not prom:
        raise SystemExit("prometheus not found: run scripts/install-test-deps.sh (or --rules-seconds 0)")
    tmp = Path(tempfile.mkdtemp(prefix="whe-bench-prom-"))
    files = []
    for src in sorted((ROOT / "alerting-rules").glob("*/*.yaml")):
        if src.parent.name == "tests":
            continue
        doc = yaml.safe_load(src.read_text())
        for g in doc.get("groups", []):
            g["interval"] = "5s"
        dst = tmp / f"{src.parent.name}-{src.name}"
        dst.write_text(yaml.safe_dump(doc))
        files.append(str(dst))
    prom_port = free_port()
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": files,
        "scrape_configs": [{"job_name": "webhook-health-exporter",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    proc = subprocess.Popen([prom, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "w"))
    try:
        time.sleep(seconds)
        conn = http.client.HTTPConnection("127.0.0.1", prom_port, timeout=30)
        conn.request("GET", "/metrics")
        parsed = parse_metrics(conn.getresponse().read().decode())
        groups = {}
        for (name, labels), v in parsed.items():
            lab = dict(labels)
            if name in ("prometheus_rule_group_last_duration_seconds", "prometheus_rule_group_last_evaluation_samples"):
                g = groups.setdefault(lab["rule_group"].split(";")[-1], {})
                g["last_duration_ms" if name.endswith("seconds") else "samples"] = v * 1e3 if name.endswith("seconds") else v
        scrape = {}
        for q in ["scrape_duration_seconds", "scrape_samples_scraped"]:
            conn.request("GET", "/api/v1/query?query=" + quote(f'max_over_time({q}{{job="webhook-health-exporter"}}[10m])'))
            res = json.loads(conn.getresponse().read())["data"]["result"]
            scrape[q] = float(res[0]["value"][1]) if res else None
        return {"seconds": seconds, "groups": groups, "prometheus_scrape": scrape}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Exactness: the exporter against SQL at the same moment, no writes in between


def exactness(db, scraper):
    scraper.get()  # settle: everything committed is read
    t_lo = time.time()
    _, _, body = scraper.get()
    t_hi = time.time()
    got = parse_metrics(body)
    orgs = {o for (o,) in db.q("SELECT org_id FROM organizations")}
    label = lambda o: o if o in orgs else "_unknown"
    reason = lambda r: r if r in REASONS else "other"
    want, checked, mismatches, bracketed = {}, 0, [], 0

    def check(name, labels, lo, hi=None, tolerance=0.0):
        nonlocal checked, bracketed
        hi = lo if hi is None else hi
        v = metric(got, name, **labels) or 0.0
        checked += 1
        if lo != hi:
            bracketed += 1
        if not (min(lo, hi) - tolerance <= v <= max(lo, hi) + tolerance):
            mismatches.append({"metric": name, "labels": labels, "exporter": v, "sql": [lo, hi]})

    totals, rejected, failed = {}, {}, {}
    for org, outcome, code, rsn, n in db.q("""SELECT org_id, outcome, http_status, rejection_reason, count(*)
                                               FROM webhook_events GROUP BY 1, 2, 3, 4"""):
        o = label(org)
        totals[o] = totals.get(o, 0) + n
        if outcome == "rejected":
            k = (reason(rsn), str(code))
            rejected[k] = rejected.get(k, 0) + n
        elif outcome == "failed":
            failed[str(code)] = failed.get(str(code), 0) + n
    for o, n in totals.items():
        check("webhook_payloads_received_total", {"org": o}, n)
    for (r, c), n in rejected.items():
        check("webhook_payloads_rejected_total", {"reason": r, "code": c}, n)
    for c, n in failed.items():
        check("webhook_payloads_failed_total", {"code": c}, n)

    # Windows: the exporter's moment lies between t_lo and t_hi; a count taken at each end
    # brackets its value (they differ only if an event sits within those milliseconds of the edge).
    for w, secs in WINDOWS.items():
        rows = db.q("""SELECT org_id, outcome, http_status, rejection_reason,
                              count(*) FILTER (WHERE received_at > to_timestamp(%(lo)s) - make_interval(secs => %(w)s)),
                              count(*) FILTER (WHERE received_at > to_timestamp(%(hi)s) - make_interval(secs => %(w)s))
                       FROM webhook_events WHERE received_at > to_timestamp(%(lo)s) - make_interval(secs => %(w)s)
                       GROUP BY 1, 2, 3, 4""", {"lo": t_lo, "hi": t_hi, "w": secs})
        recv, rej, fail, pairs = {}, {}, {}, {}
        add = lambda d, k, a, b: d.__setitem__(k, (d.get(k, (0, 0))[0] + a, d.get(k, (0, 0))[1] + b))
        for org, outcome, code, rsn, a, b in rows:
            o = label(org)
            add(recv, o, a, b)
            if outcome == "failed":
                add(fail, o, a, b)
            if outcome == "rejected":
                add(rej, o, a, b)
                add(pairs, (o, reason(rsn), str(code)), a, b)
        for o in set(totals) | orgs:
            a, b = recv.get(o, (0, 0))
            check("webhook_window_payloads_received", {"org": o, "window": w}, a, b)
            a, b = rej.get(o, (0, 0))
            check("webhook_window_payloads_rejected", {"org": o, "window": w}, a, b)
            a, b = fail.get(o, (0, 0))
            check("webhook_window_payloads_failed", {"org": o, "window": w}, a, b)
        # Every pair SQL counts, and every pair served (a served pair SQL does not know is wrong).
        served = {(dict(l)["org"], dict(l)["reason"], dict(l)["code"]) for (n, l) in got
                  if n == "webhook_window_payloads_rejected_by_reason" and dict(l)["window"] == w}
        for (o, r, c) in set(pairs) | served:
            a, b = pairs.get((o, r, c), (0, 0))
            check("webhook_window_payloads_rejected_by_reason", {"org": o, "window": w, "reason": r, "code": c}, a, b)
    for org, depth in db.q("SELECT org_id, count(*) FROM sync_queue WHERE state = 'pending' GROUP BY 1"):
        check("webhook_queue_depth", {"org": label(org)}, depth)
    before_sync = checked
    sync_exactness(db, got, check, label, set(totals) | orgs, t_lo, t_hi)
    return {"values_checked": checked, "sync_values_checked": checked - before_sync,
            "bracketed_by_scrape_moment": bracketed,
            "mismatches": len(mismatches), "first_mismatches": mismatches[:10],
            "scrape_ms": (t_hi - t_lo) * 1e3}


def served(got, name, *keys, **match):
    """The label values of the series of `name` the exporter served (matching `match`)."""
    return {tuple(dict(l)[k] for k in keys) for (n, l) in got
            if n == name and all(dict(l).get(k) == v for k, v in match.items())}


def sync_exactness(db, got, check, label, orgs, t_lo, t_hi):
    """The sync service's figures against SQL on the attempt log and the queue: attempt counters,
    the lag histogram, per org and window synced / given up / unaccounted, last success, in flight.
    Sparse series are checked over what SQL counts and what the exporter serves."""
    attempts = {(o, c or "none", str(code) if code is not None else "none"): n for o, c, code, n in db.q(
        "SELECT outcome, error_class, http_status, count(*) FROM sync_attempts GROUP BY 1, 2, 3")}
    for k in set(attempts) | served(got, "webhook_sync_attempts_total", "outcome", "error_class", "code"):
        check("webhook_sync_attempts_total", dict(zip(("outcome", "error_class", "code"), k)), attempts.get(k, 0))
    buckets = dict(db.q("""SELECT sync_lag_bucket(greatest(extract(epoch FROM finished_at - received_at)::float8, 0)),
                                  count(*)
                           FROM sync_attempts WHERE outcome = 'succeeded' AND received_at IS NOT NULL GROUP BY 1"""))
    for (le,) in served(got, "webhook_sync_lag_seconds_bucket", "le"):
        bound = float(le)
        check("webhook_sync_lag_seconds_bucket", {"le": le}, sum(n for b, n in buckets.items() if b <= bound))
    check("webhook_sync_lag_seconds_count", {}, sum(buckets.values()))

    for w, secs in WINDOWS.items():
        rows = db.q("""SELECT org_id, outcome,
                              count(*) FILTER (WHERE finished_at > to_timestamp(%(lo)s) - make_interval(secs => %(w)s)),
                              count(*) FILTER (WHERE finished_at > to_timestamp(%(hi)s) - make_interval(secs => %(w)s))
                       FROM sync_attempts
                       WHERE finished_at > to_timestamp(%(lo)s) - make_interval(secs => %(w)s)
                         AND outcome IN ('succeeded', 'gave_up')
                       GROUP BY 1, 2""", {"lo": t_lo, "hi": t_hi, "w": secs})
        counts = {}
        for org, outcome, a, b in rows:
            k = (label(org), outcome)
            x, y = counts.get(k, (0, 0))
            counts[k] = (x + a, y + b)
        for o in orgs | {o for o, _ in counts}:
            check("webhook_sync_window_items_synced", {"org": o, "window": w}, *counts.get((o, "succeeded"), (0, 0)))
        for (o,) in {(o,) for o, out in counts if out == "gave_up"} | served(
                got, "webhook_sync_window_items_given_up", "org", window=w):
            check("webhook_sync_window_items_given_up", {"org": o, "window": w}, *counts.get((o, "gave_up"), (0, 0)))
        lost = {}
        for i, t in enumerate((t_lo, t_hi)):
            for org, n in db.q(UNACCOUNTED_SQL, {"t": t, "w": secs}):
                ab = lost.setdefault(label(org), [0, 0])
                ab[i] += n
        for (o,) in {(o,) for o in lost} | served(got, "webhook_sync_window_events_unaccounted", "org", window=w):
            check("webhook_sync_window_events_unaccounted", {"org": o, "window": w}, *lost.get(o, (0, 0)))

    last = {}
    for org, t in db.q("""SELECT org_id, extract(epoch FROM max(finished_at))::float8 FROM sync_attempts
                          WHERE outcome = 'succeeded' GROUP BY 1"""):
        last[label(org)] = max(last.get(label(org), 0.0), t)
    for (o,) in {(o,) for o in last} | served(got, "webhook_sync_last_success_timestamp_seconds", "org"):
        check("webhook_sync_last_success_timestamp_seconds", {"org": o}, last.get(o, 0.0), tolerance=1e-3)
    in_flight = {}
    for org, n in db.q("SELECT org_id, count(*) FROM sync_queue WHERE state = 'processing' GROUP BY 1"):
        in_flight[label(org)] = in_flight.get(label(org), 0) + n
    for (o,) in {(o,) for o in in_flight} | served(got, "webhook_queue_in_flight", "org"):
        check("webhook_queue_in_flight", {"org": o}, in_flight.get(o, 0))


# ---------------------------------------------------------------------------------------------
# The SQL-exporter way


def qe_queries():
    """(name, sql with parameters filled in) per query execution of one refresh."""
    cfg = yaml.safe_load((BENCH / "query-exporter.yaml").read_text().replace("!env QE_DSN", "x"))
    out = []
    for name, q in cfg["queries"].items():
        for params in q.get("parameters") or [{}]:
            sql = q["sql"]
            for k, v in params.items():
                sql = sql.replace(f":{k}", "'" + str(v).replace("'", "''") + "'")
            out.append((name + (f"[{params['window']}]" if params else ""), sql))
    return out


def bench_query_exporter(db, args, slog):
    r = {}
    port = free_port()
    env = dict(os.environ, QE_DSN=json.dumps(
        db.url.replace("postgres://", "postgresql+psycopg2://", 1) + "?application_name=whe-bench-qe&" + LOG_OPTS))
    slog.mark()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(QE_BIN), "--config", str(BENCH / "query-exporter.yaml"), "-H", "127.0.0.1",
                             "-p", str(port), "-L", "warning"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(BENCH / "results" / f"{db.name}.query-exporter.log", "w"))
    s = Scraper(port)
    while True:
        try:
            _, status, body = s.get()
            if status == 200 and "webhook_payloads_received_total{" in body:
                break
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("query-exporter exited; see bench/results/*.query-exporter.log")
        if time.perf_counter() - t0 > 900:
            raise SystemExit("query-exporter did not answer in 900 s")
        time.sleep(0.05)
    r["cold_start_s"] = time.perf_counter() - t0
    lat = []
    slog.mark()
    for i in range(args.qe_scrapes):
        db.insert_round(args.step, 5_000_011 + i * 7919, args.orgs)
        dt, status, body = s.get(timeout=900)
        assert status == 200
        lat.append(dt * 1e3)
    dbt = slog.read()
    r["steady"] = {"scrapes": args.qe_scrapes, "latency_ms": summary(lat)}
    if dbt:
        r["steady"]["db_ms_per_scrape"] = dbt[0] / args.qe_scrapes
    r["metrics_bytes"] = len(body.encode())
    r["series"] = series_count(body)
    r["mem"] = proc_mem(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    return r


def explain(db, sql, params=None):
    plan = db.q("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)[0][0][0]
    text = "\n".join(row[0] for row in db.q("EXPLAIN (ANALYZE, BUFFERS) " + sql, params))
    return plan["Execution Time"] + plan.get("Planning Time", 0.0), text


def bench_raw_sql(db, args):
    """The query-exporter refresh as plain SQL (client round trip and server time), and the
    exporter's own per-scrape queries under EXPLAIN ANALYZE with 1,000 new rows to read."""
    plans = []
    raw = {}
    for name, sql in qe_queries():
        client = []
        for _ in range(args.sql_repeats):
            t = time.perf_counter()
            db.q(sql)
            client.append((time.perf_counter() - t) * 1e3)
        server, text = explain(db, sql)
        raw[name] = {"client_ms_median": statistics.median(client), "explain_ms": server}
        plans.append(f"-- query-exporter: {name}\n{sql}\n{text}\n")

    # The exporter's incremental read as it runs in steady state: cursor at the previous horizon,
    # 1,000 rows committed since.
    horizon = lambda: db.q("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0][0]
    cur_tx = horizon()
    db.insert_round(args.step, 9_000_001, args.orgs)
    new_h = horizon()
    ours = {}
    after = lambda table, columns, c: (f"""SELECT {columns}, tx_id::text::bigint AS tx, id FROM {table}
             WHERE (tx_id, id) > (%(c)s::bigint::text::xid8, 0) AND tx_id < %(h)s::bigint::text::xid8
             ORDER BY tx_id, id LIMIT 50000""", {"c": c, "h": new_h})
    # As src/store/sql.rs and src/store/postgres/read.rs write them: the opening statement of a
    # refresh carries the snapshot, the trigger marks, the queue, the events with an open queue
    # item and the open writers; then the new rows of each log table.
    queue_stats = """SELECT org_id, count(CASE WHEN state = 'pending' THEN 1 END) AS depth,
                count(CASE WHEN state = 'pending' AND reprocess THEN 1 END) AS reprocess_depth,
                min(CASE WHEN state = 'pending' THEN enqueued_at END) AS oldest_enqueued_at,
                count(CASE WHEN state = 'processing' THEN 1 END) AS in_flight,
                count(CASE WHEN state = 'processing' AND lease_until < now() THEN 1 END) AS lease_expired
         FROM (SELECT org_id, state, reprocess, enqueued_at, lease_until FROM sync_queue WHERE state = 'pending'
               UNION ALL
               SELECT org_id, state, reprocess, enqueued_at, lease_until FROM sync_queue WHERE state = 'processing')
              AS q
         GROUP BY org_id"""
    live_events = """SELECT event_id FROM sync_queue WHERE state = 'pending'
     UNION ALL SELECT event_id FROM sync_queue WHERE state = 'processing'"""
    open_writers = """SELECT l.virtualtransaction AS key, a.xact_start AS started_at
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.relation IN ('webhook_events'::regclass, 'edge_function_events'::regclass,
                              'sync_attempts'::regclass)
           AND l.pid <> pg_backend_pid()"""
    queries = {
        "opening": (f"""SELECT pg_current_snapshot()::text,
                (SELECT statements FROM webhook_event_deletions),
                (SELECT statements FROM webhook_organization_changes),
                (SELECT statements FROM sync_attempt_deletions),
                (SELECT coalesce(json_agg(q), '[]') FROM ({queue_stats}) AS q),
                ARRAY({live_events}),
                (SELECT coalesce(json_agg(w), '[]') FROM ({open_writers}) AS w)""", None),
        "events_after": after("webhook_events", "event_id, org_id, received_at, outcome, http_status, rejection_reason",
                              cur_tx),
        "attempts_after": after("sync_attempts",
                                "event_id, org_id, finished_at, outcome, error_class, http_status, received_at", cur_tx),
        "lifecycle_after": after("edge_function_events", "occurred_at, function_name, event_type, shutdown_reason",
                                 new_h),
        # Parts of the opening statement, and the organizations (read when their change mark moves).
        "queue_stats": (queue_stats, None),
        "live_events": (live_events, None),
        "organizations": ("SELECT org_id, display_name, endpoint_url, endpoint_url_changed_at, active "
                          "FROM organizations ORDER BY org_id", None),
    }
    for name, (sql, params) in queries.items():
        server, text = explain(db, sql, params)
        ours[name] = {"explain_ms": server}
        plans.append(f"-- exporter: {name}\n{sql}\n{text}\n")
    (BENCH / "results" / f"{db.name}.plans.txt").write_text("\n".join(plans))
    per_scrape = ("opening", "events_after", "attempts_after", "lifecycle_after")
    return {"query_exporter_queries": raw,
            "query_exporter_refresh_client_ms": sum(v["client_ms_median"] for v in raw.values()),
            "query_exporter_refresh_explain_ms": sum(v["explain_ms"] for v in raw.values()),
            "exporter_queries": ours,
            "exporter_scrape_statements": list(per_scrape),
            "exporter_scrape_explain_ms": sum(ours[n]["explain_ms"] for n in per_scrape)}


def bench_encode(db):
    out = subprocess.run([str(ENCODE_BIN), db.url, "200"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", default="1000000,10000000")
    ap.add_argument("--orgs", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scrapes", type=int, default=300)
    ap.add_argument("--step", type=int, default=1000)
    ap.add_argument("--catchup", type=int, default=500_000)
    ap.add_argument("--qe-scrapes", type=int, default=5)
    ap.add_argument("--sql-repeats", type=int, default=3)
    ap.add_argument("--admin-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                          "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--server-log", default="/var/log/postgresql/postgresql-15-main.log")
    ap.add_argument("--keep", action="store_true", help="keep the bench databases")
    ap.add_argument("--curve-orgs", default="100,10000",
                    help="more organization counts at the largest history size, exporter only (the scale curve)")
    ap.add_argument("--rules-seconds", type=int, default=60,
                    help="how long a real Prometheus evaluates the shipped rules against the exporter (0: skip)")
    ap.add_argument("--reuse", action="store_true",
                    help="measure again on databases kept by an earlier --keep run, without reloading")
    args = ap.parse_args()
    (BENCH / "results").mkdir(exist_ok=True)

    sizes = [int(x) for x in args.events.split(",")]
    runs = [(n, args.orgs, True) for n in sizes]
    runs += [(max(sizes), int(o), False) for o in args.curve_orgs.split(",") if o and int(o) != args.orgs]
    for n, orgs, compare in runs:
        args.orgs = orgs
        name = f"whe_bench_{n // 1_000_000}m" if n % 1_000_000 == 0 else f"whe_bench_{n}"
        if not compare:
            name += f"_{orgs}o"
        db = Db(args.admin_url, name)
        slog = ServerLog(args.server_log, name)
        res = {"events": n, "orgs": orgs, "days": args.days, "db": name, "curve_only": not compare,
               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "server_log": slog.available()}
        res["loadavg"] = [loadavg("start")]
        previous = BENCH / "results" / f"{name}.json"
        if args.reuse and previous.exists():
            # Measure again on the database a --keep run left (its load figures carried over).
            res["load"] = json.loads(previous.read_text())["load"]
            res["reused_database"] = True
            db.connect()
        else:
            log(f"{name}: loading {n} events for {orgs} orgs")
            res["load"] = load(db, n, orgs, args.days)
            log(f"{name}: loaded in {res['load']['load_s']:.1f} s")
            res["loadavg"].append(loadavg("loaded"))
        log(f"{name}: exporter")
        res["exporter"] = bench_exporter(db, args, slog)
        log(f"{name}: exporter p50 {res['exporter']['steady']['latency_ms']['p50']:.2f} ms")
        if compare:
            log(f"{name}: in-process stages")
            res["encode"] = bench_encode(db)
            log(f"{name}: raw SQL")
            res["sql"] = bench_raw_sql(db, args)
            log(f"{name}: query-exporter")
            res["query_exporter"] = bench_query_exporter(db, args, slog)
        res["loadavg"].append(loadavg("done"))
        res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        (BENCH / "results" / f"{name}.json").write_text(json.dumps(res, indent=2))
        log(f"{name}: done")
        if not args.keep:
            db.conn.close()
            db.recreate()
            c = psycopg2.connect(args.admin_url)
            c.autocommit = True
            c.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
            c.close()


if __name__ == "__main__":
    main()
