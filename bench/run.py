#!/usr/bin/env python3
"""circle-archive benchmarks. Prints figures; asserts nothing. Machines are shared and noisy, so each
figure is the median of several runs, and the figures that matter are ratios measured in the same run.

    python3 bench/run.py                      # everything (about 30 minutes on 2 cores)
    python3 bench/run.py --only http          # HTTP ingest with wrk: c=1/16/64, /healthz, duplicates, RSS
    python3 bench/run.py --only import,read   # import throughput; reports and exports over --jobs jobs
    python3 bench/run.py --only enrich        # what enrichment costs webhooks; enrich's own rate

Sections:
  http    starts the release server on a fresh database for each run and drives it over loopback with
          wrk (bench/deliver.lua) with pre-signed, unique, realistic events; checks afterwards that the
          database holds exactly the ids answered "stored".
  import  `import` of a JSON-lines file of about 200,000 events into a fresh database.
  read    builds an archive of --jobs jobs through `import` (above 2M, streamed from the generator;
          `--jobs 10000000` needs about 32 GiB and 45 minutes), migrates it (timed: the summaries),
          then times reports over all time and over the archive's last 30 days, the dashboard's
          pages and exports, and compares `export jobs --format csv` with `sqlite3 -csv` on the
          same view (the C floor).
  enrich  c=64 webhook throughput with enrichment off and on (a token, and a fake CircleCI API on
          loopback answering after --api-latency-ms, as the real one does over the internet), runs
          alternating; then `enrich` over an imported archive against the fake with no latency:
          jobs/s and requests per job. The fake is Python's http.server: its CPU is not CircleCI's,
          so the figures are lower bounds.

Needs wrk, sqlite3 and GNU time (installed with apt-get when missing). Work files go to bench/.work/
(git-ignored). The release build is made with `swift build -c release`.
"""

import argparse
import calendar
import glob
import http.server
import threading
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

# Archives of more jobs than this are built from the generator's output streamed into `import`.
STREAM_ABOVE = 2_000_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", ".work")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run_measured(arguments, stdout=subprocess.DEVNULL, stdin=None, environment=None):
    """Runs a command; returns (seconds, peak RSS in MiB, stderr). Fails loudly on a non-zero exit.

    The peak RSS comes from GNU time, not from this process's wait4: Linux counts a child's memory
    before exec in its peak, so a child of this (large) Python process would report Python's size."""
    started = time.monotonic()
    process = subprocess.run(["/usr/bin/time", "-f", "%M", *arguments], stdout=stdout, stdin=stdin, stderr=subprocess.PIPE,
                             env={**os.environ, **(environment or {})})
    elapsed = time.monotonic() - started
    *errors, peak = process.stderr.decode().rstrip("\n").split("\n")
    errors = "\n".join(errors)
    if process.returncode != 0:
        sys.exit(f"{' '.join(arguments)} failed ({process.returncode}): {errors}")
    return elapsed, int(peak) / 1024, errors


def sqlite_value(database, sql):
    return subprocess.run(["sqlite3", database, sql], check=True, capture_output=True, text=True).stdout.strip()


def median_time(arguments, repeat, stdout=subprocess.DEVNULL):
    return statistics.median(run_measured(arguments, stdout=stdout)[0] for _ in range(repeat))


def build():
    log("building release binaries (swift build -c release)…")
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_path, "circle-archive"), os.path.join(bin_path, "circle-archive-bench")


SECRET = "bench-secret"


def ensure_tools():
    # Debian package for each tool: GNU time measures the peak RSS of imports and exports.
    packages = {"wrk": "wrk", "sqlite3": "sqlite3", "/usr/bin/time": "time"}
    missing = [package for tool, package in packages.items() if not shutil.which(tool)]
    if missing:
        log(f"installing {', '.join(missing)} with apt-get…")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def remove_database(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def database_bytes(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def wait_until_answering(url, process, name):
    """Polls `url` until it answers; exits if `process` ends first or 30 s pass."""
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                sys.exit(f"{name} did not start")
            time.sleep(0.05)


class Server:
    """The release server on a fresh database, on a free loopback port."""

    def __init__(self, binary, database, environment=None):
        remove_database(database)
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [binary, "serve", "--db", database, "--port", str(self.port), "--log-level", "error"],
            env={**os.environ, "CIRCLE_ARCHIVE_SECRETS": SECRET, **(environment or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_answering(self.url + "/healthz", self.process, "the server")

    def peak_rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=60) != 0:
            sys.exit(f"the server exited with {self.process.returncode}")


def shard(signed, lines, threads, prefix):
    """Deals the first `lines` signed requests round-robin into one file per wrk thread."""
    outputs = [open(f"{prefix}-{k}.requests", "w") for k in range(threads)]
    with open(signed) as source:
        for index, line in enumerate(source):
            if index >= lines:
                break
            outputs[index % threads].write(line)
    for output in outputs:
        output.close()


def deliver(server, connections, threads, prefix, output):
    """Sends every request of the shards once with wrk; returns the tally of all threads."""
    for stale in glob.glob(output + "-*.done") + glob.glob(output + "-*.acked"):
        os.remove(stale)
    wrk = subprocess.Popen(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", "600s", "--timeout", "10s",
         "-s", os.path.join(ROOT, "bench", "deliver.lua"), server.url, "--", prefix, output],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(glob.glob(output + "-*.done")) < threads:
        if wrk.poll() is not None:
            sys.exit(f"wrk stopped early: {wrk.stderr.read()}")
        time.sleep(0.05)
    wrk.send_signal(signal.SIGINT)
    out, _ = wrk.communicate(timeout=60)
    latency = json.loads(out.strip().splitlines()[-1])
    parts = [json.load(open(f"{output}-{k}.done")) for k in range(threads)]
    tally = {key: sum(part[key] for part in parts) for key in ("stored", "duplicate", "refused", "sent")}
    tally["seconds"] = max(part["end"] for part in parts) - min(part["start"] for part in parts)
    tally.update(latency)
    tally["acked"] = set()
    for k in range(threads):
        with open(f"{output}-{k}.acked") as acked:
            tally["acked"].update(line.strip() for line in acked if line.strip())
    return tally


def stored_ids(archive_binary, database):
    out = subprocess.run([archive_binary, "query", "--db", database, "--format", "csv", "SELECT id FROM events"],
                         check=True, capture_output=True, text=True).stdout
    return set(out.splitlines()[1:]) - {""}


def http_section(archive_binary, generator, options, figure):
    signed = os.path.join(WORK, f"signed-{options.rss_jobs}.requests")
    if not (options.keep and os.path.exists(signed)):
        log(f"generating {options.rss_jobs:,} signed job events…")
        run_measured([generator, "--jobs", str(options.rss_jobs), "--sign-with", SECRET, "--output", signed])
    total = sum(1 for _ in open(signed, "rb"))
    database = os.path.join(WORK, "http.sqlite")

    log("GET /healthz with wrk -c 64 (the HTTP ceiling)…")
    rates = []
    for _ in range(options.repeat):
        server = Server(archive_binary, database)
        out = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", "5s", server.url + "/healthz"],
                             check=True, capture_output=True, text=True).stdout
        rates.append(float(next(line for line in out.splitlines() if line.startswith("Requests/sec:")).split()[1]))
        server.stop()
    healthz = statistics.median(rates)
    figure("GET /healthz, c=64", f"{healthz:,.0f} req/s")

    for connections, lines in ((1, options.http_events // 10), (16, options.http_events // 2), (64, options.http_events)):
        threads = min(connections, 2)
        prefix = os.path.join(WORK, f"c{connections}")
        shard(signed, min(lines, total), threads, prefix)
        runs, duplicate_rates = [], []
        log(f"POST {min(lines, total):,} deliveries at c={connections}, {options.repeat} runs…")
        for _ in range(options.repeat):
            server = Server(archive_binary, database)
            tally = deliver(server, connections, threads, prefix, prefix + "-out")
            if connections == 64:
                again = deliver(server, connections, threads, prefix, prefix + "-again")
                duplicate_rates.append(again["duplicate"] / again["seconds"])
            server.stop()
            in_database = stored_ids(archive_binary, database)
            exact = in_database == tally["acked"] and tally["stored"] == len(tally["acked"])
            if not exact or tally["refused"]:
                log(f"  MISMATCH: {len(in_database):,} in the database, {len(tally['acked']):,} acknowledged, "
                    f"{tally['refused']} refused")
            runs.append((tally["stored"] / tally["seconds"], tally["p50_ms"], tally["p99_ms"], exact))
        rate = statistics.median(run[0] for run in runs)
        figure(f"POST stored events/s, c={connections}",
               f"{rate:,.0f} ({rate / healthz:.0%} of /healthz); p50 {statistics.median(r[1] for r in runs):.2f} ms, "
               f"p99 {statistics.median(r[2] for r in runs):.2f} ms; database = acknowledged ids: "
               f"{'yes' if all(r[3] for r in runs) else 'NO'}")
        if duplicate_rates:
            duplicates = statistics.median(duplicate_rates)
            figure("POST duplicates/s, c=64", f"{duplicates:,.0f} ({duplicates / healthz:.0%} of /healthz)")

    log(f"POST all {total:,} deliveries at c=64 for peak RSS…")
    prefix = os.path.join(WORK, "rss")
    shard(signed, total, 2, prefix)
    server = Server(archive_binary, database)
    tally = deliver(server, 64, 2, prefix, prefix + "-out")
    rss = server.peak_rss_mib()
    server.stop()
    figure(f"server peak RSS after {tally['stored']:,} events", f"{rss:.0f} MiB ({tally['stored'] / tally['seconds']:,.0f} events/s)")
    figure("database bytes per event (HTTP)", f"{database_bytes(database) / max(tally['stored'], 1):,.0f}")


def import_section(archive_binary, generator, options, figure):
    events = os.path.join(WORK, f"events-{options.import_jobs}.jsonl")
    if not (options.keep and os.path.exists(events)):
        log(f"generating {options.import_jobs:,} job events…")
        run_measured([generator, "--jobs", str(options.import_jobs), "--output", events])
    count = sum(1 for _ in open(events, "rb"))
    database = os.path.join(WORK, "import.sqlite")
    rates, peaks = [], []
    log(f"importing {count:,} events into a fresh database, {options.repeat} runs…")
    for _ in range(options.repeat):
        remove_database(database)
        seconds, rss, _ = run_measured([archive_binary, "import", "--db", database, events])
        rates.append(count / seconds)
        peaks.append(rss)
    figure("import events/s", f"{statistics.median(rates):,.0f} ({count:,} events; peak RSS {max(peaks):.0f} MiB)")


def dashboard_pages(archive_binary, database, options, figure):
    """Times each dashboard page over the archive (the server's time: loopback, one request at a
    time), with the default window (the archive's last 30 days) and over all time."""
    port = free_port()
    process = subprocess.Popen([archive_binary, "dashboard", "--db", database, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(base + "/dashboard.css", process, "the dashboard")
    pages = [("overview", "/"), ("project", "/project?project=gh/acme/api"),
             ("workflow", "/workflow?project=gh/acme/api&workflow=build-test-deploy"),
             ("job", "/job?project=gh/acme/api&job=build"), ("tests", "/tests"),
             ("failures CSV", "/data/failures.csv")]
    log("timing dashboard pages…")
    try:
        for window, suffix in (("30 days", ""), ("all time", "since=all")):
            for name, path in pages:
                url = base + path + (("&" if "?" in path else "?") + suffix if suffix else "")
                seconds, size = [], 0
                for _ in range(options.repeat):
                    started = time.monotonic()
                    size = len(urllib.request.urlopen(url, timeout=120).read())
                    seconds.append(time.monotonic() - started)
                figure(f"dashboard {name}, {window}", f"{statistics.median(seconds) * 1000:,.0f} ms ({size / 1024:,.0f} KiB)")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def read_section(archive_binary, generator, options, figure):
    database = os.path.join(WORK, f"archive-{options.jobs}.sqlite")
    if not (options.keep and os.path.exists(database)):
        remove_database(database)
        if options.jobs <= STREAM_ABOVE:
            events = os.path.join(WORK, f"events-{options.jobs}.jsonl")
            if not (options.keep and os.path.exists(events)):
                log(f"generating {options.jobs:,} job events…")
                run_measured([generator, "--jobs", str(options.jobs), "--output", events])
            source, stdin = events, None
        else:
            # Ten million jobs are 15 GiB of JSON lines: streamed from the generator, not kept.
            producer = subprocess.Popen([generator, "--jobs", str(options.jobs)], stdout=subprocess.PIPE)
            source, stdin = "-", producer.stdout
        log(f"importing {options.jobs:,} jobs' events through the ingest path…")
        seconds, rss, errors = run_measured([archive_binary, "import", "--db", database, source], stdin=stdin)
        event_count = int(re.search(r"stored (\d+)", errors).group(1))
        figure("import events/s into a growing archive", f"{event_count / seconds:,.0f} ({event_count:,} events in {seconds:.1f} s, peak RSS {rss:.0f} MiB)")
    # The archive may come from an earlier version: migrate it (and build its summaries), timed.
    seconds, rss, _ = run_measured([archive_binary, "migrate", "--db", database])
    figure("migrate (schema and summaries)", f"{seconds:.1f} s (peak RSS {rss:.0f} MiB)")
    event_count = int(sqlite_value(database, "SELECT max(rowid) FROM events"))
    size = database_bytes(database)
    figure("database bytes per event", f"{size / event_count:,.0f} ({size / 2**20:,.0f} MiB, {event_count:,} events)")

    # Windowed reports cover the archive's last 30 days, as the dashboard does by default.
    newest = sqlite_value(database, "SELECT max(stopped_at) FROM jobs")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(time.strptime(newest[:19], "%Y-%m-%dT%H:%M:%S")) - 30 * 86400))
    log(f"timing reports (all time, and since {since})…")
    reports = [["durations", "--by", "job"], ["durations", "--by", "workflow"], ["durations", "--by", "branch"],
               ["trend", "--by", "job", "--every", "week"], ["trend", "--by", "workflow", "--every", "day"], ["failures"],
               ["regressions"], ["flaky"], ["slowest", "--limit", "20"]]
    for window, extra in (("all time", []), ("30 days", ["--since", since])):
        for report in reports:
            seconds = median_time([archive_binary, "report", *report, *extra, "--db", database, "--format", "csv"], options.repeat)
            figure(f"report {' '.join(report)}, {window}", f"{seconds:.2f} s")

    dashboard_pages(archive_binary, database, options, figure)

    log("timing exports…")
    small = max(options.jobs // 10, 1)
    export_all, rss_all, _ = run_measured([archive_binary, "export", "jobs", "--db", database])
    until = subprocess.run([archive_binary, "query", "--db", database, "--format", "csv",
                            f"SELECT stopped_at FROM jobs ORDER BY stopped_at LIMIT 1 OFFSET {small}"],
                           check=True, capture_output=True, text=True).stdout.splitlines()[1]
    _, rss_small, _ = run_measured([archive_binary, "export", "jobs", "--db", database, "--until", until])
    figure("export jobs --format csv peak RSS", f"{rss_all:.0f} MiB for {options.jobs:,} rows, {rss_small:.0f} MiB for {small:,} rows")
    export_seconds = median_time([archive_binary, "export", "jobs", "--db", database, "--format", "csv"], options.repeat)
    floor = median_time(["sqlite3", "-csv", "-header", database, "SELECT * FROM job_runs ORDER BY stopped_at, job_id"], options.repeat)
    figure("export jobs --format csv", f"{export_seconds:.2f} s; sqlite3 -csv on the same rows {floor:.2f} s (ratio {export_seconds / floor:.2f})")


class FakeCircleCI:
    """CircleCI's job details and tests endpoints on a loopback port, for every job number asked:
    `tests` results a job (2% fail, which ones depends on the job), `page_size` a page, each answer
    after `latency`."""

    def __init__(self, latency=0.0, tests=25, page_size=10):
        self.requests = 0
        lock = threading.Lock()
        fake = self
        details = json.dumps({"queued_at": "2024-01-01T00:00:00Z", "parallelism": 1,
                              "executor": {"type": "docker", "resource_class": "medium"}}).encode()

        def page(number, start):
            items = [{"classname": f"Suite{k // 5}", "name": f"test{k}", "file": f"spec/suite{k // 5}.rb",
                      "result": "failure" if (number * 7 + k) % 50 == 0 else "success",
                      "run_time": ((number + k) % 100) / 100, "message": "expected true\n  at spec", "source": "rspec"}
                     for k in range(start, min(start + page_size, tests))]
            following = f"p{start + page_size}" if start + page_size < tests else None
            return json.dumps({"items": items, "next_page_token": following}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
            # until the client's delayed ACK, 40 ms per request.
            disable_nagle_algorithm = True

            def do_GET(self):
                with lock:
                    fake.requests += 1
                if latency:
                    time.sleep(latency)
                path, _, query = self.path.partition("?")
                if self.headers.get("Circle-Token") != "bench-token":
                    status, body = 401, b'{"message":"You must log in first."}'
                elif "/job/" in path:
                    status, body = 200, details
                elif path.endswith("/tests"):
                    number = int(path.split("/")[-2])
                    status, body = 200, page(number, int(query.partition("page-token=p")[2] or 0))
                else:
                    status, body = 404, b'{"message":"Not found."}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the server stopped mid-request

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.requests_per_job = 1 + max(1, -(-tests // page_size))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def scalar(archive_binary, database, sql):
    out = subprocess.run([archive_binary, "query", "--db", database, "--format", "csv", sql],
                         check=True, capture_output=True, text=True).stdout
    return int(out.splitlines()[1])


def enrich_section(archive_binary, generator, options, figure):
    signed = os.path.join(WORK, f"signed-{options.rss_jobs}.requests")
    if not (options.keep and os.path.exists(signed)):
        log(f"generating {options.rss_jobs:,} signed job events…")
        run_measured([generator, "--jobs", str(options.rss_jobs), "--sign-with", SECRET, "--output", signed])
    database = os.path.join(WORK, "enrich.sqlite")
    prefix = os.path.join(WORK, "enrich-c64")
    shard(signed, options.http_events, 2, prefix)
    fake = FakeCircleCI(latency=options.api_latency_ms / 1000)
    token = {"CIRCLE_TOKEN": "bench-token", "CIRCLE_ARCHIVE_API_URL": fake.url}
    rates = {"off": [], "on": []}
    log(f"POST {options.http_events:,} deliveries at c=64, enrichment off and on alternately, {options.repeat} runs each "
        f"(API latency {options.api_latency_ms} ms)…")
    for _ in range(options.repeat):
        for mode in ("off", "on"):
            server = Server(archive_binary, database, token if mode == "on" else {"CIRCLE_TOKEN": ""})
            tally = deliver(server, 64, 2, prefix, prefix + "-out")
            server.stop()
            rates[mode].append(tally["stored"] / tally["seconds"])
            if mode == "on":
                jobs = scalar(archive_binary, database, "SELECT count(*) FROM jobs WHERE number IS NOT NULL")
                accounted = scalar(archive_binary, database,
                                   "SELECT (SELECT count(*) FROM enrichment_queue) + "
                                   "(SELECT count(*) FROM jobs WHERE enrichment_status IS NOT NULL)")
                if accounted != jobs:
                    log(f"  MISMATCH: {jobs:,} numbered jobs, {accounted:,} enriched or queued")
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    spread = {mode: f"runs {min(values):,.0f}–{max(values):,.0f}" for mode, values in rates.items()}
    figure("POST stored events/s, c=64, enrichment off", f"{off:,.0f} ({spread['off']})")
    figure("POST stored events/s, c=64, enrichment on",
           f"{on:,.0f} ({spread['on']}; {on / off - 1:+.1%}; API latency {options.api_latency_ms} ms)")
    fake.stop()

    events = os.path.join(WORK, f"events-{options.enrich_jobs}.jsonl")
    if not (options.keep and os.path.exists(events)):
        run_measured([generator, "--jobs", str(options.enrich_jobs), "--output", events])
    fast = FakeCircleCI()
    seconds_per_run = []
    for _ in range(options.repeat):
        remove_database(database)
        run_measured([archive_binary, "import", "--db", database, events])
        jobs = scalar(archive_binary, database, "SELECT count(*) FROM jobs WHERE number IS NOT NULL")
        before = fast.requests
        seconds, rss, _ = run_measured([archive_binary, "enrich", "--db", database, "--api-url", fast.url],
                                       environment={"CIRCLE_TOKEN": "bench-token"})
        seconds_per_run.append(seconds)
        requests = fast.requests - before
        tests = scalar(archive_binary, database, "SELECT count(*) FROM test_results")
    fast.stop()
    figure("enrich jobs/s (fake API, no latency)",
           f"{jobs / statistics.median(seconds_per_run):,.0f} ({jobs:,} jobs, {tests:,} test results, "
           f"{requests / jobs:.2f} requests per job for {fast.requests_per_job - 1} pages of tests; peak RSS {rss:.0f} MiB)")

    log(f"timing test reports over {tests:,} test results…")
    for report in (["tests"], ["tests", "--by", "file"], ["flaky-tests"]):
        seconds, rss, _ = run_measured([archive_binary, "report", *report, "--db", database, "--format", "csv"])
        figure(f"report {' '.join(report)}", f"{seconds:.2f} s (peak RSS {rss:.0f} MiB)")
    seconds, rss, _ = run_measured([archive_binary, "export", "tests", "--db", database, "--format", "csv"])
    figure("export tests --format csv", f"{seconds:.2f} s (peak RSS {rss:.0f} MiB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="http,import,read,enrich", help="sections to run, comma-separated (default all)")
    parser.add_argument("--jobs", type=int, default=1_000_000, help="job runs in the read-side archive (default 1,000,000)")
    parser.add_argument("--http-events", type=int, default=200_000, help="deliveries per c=64 run (c=16 sends half, c=1 a tenth)")
    parser.add_argument("--rss-jobs", type=int, default=870_000, help="job events (plus ~15%% workflow events) sent for the RSS figure")
    parser.add_argument("--import-jobs", type=int, default=174_000, help="job events (plus workflow events) in the import file")
    parser.add_argument("--enrich-jobs", type=int, default=20_000, help="job events in the archive `enrich` fills (default 20,000)")
    parser.add_argument("--api-latency-ms", type=int, default=100, help="the fake CircleCI API's answer time while webhooks are timed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--keep", action="store_true", help="reuse generated files in bench/.work/ from an earlier run")
    options = parser.parse_args()
    sections = set(options.only.split(","))

    ensure_tools()
    archive_binary, generator = build()
    os.makedirs(WORK, exist_ok=True)
    figures = []

    def figure(name, value):
        figures.append((name, value))
        log(f"  {name}: {value}")

    if "http" in sections:
        http_section(archive_binary, generator, options, figure)
    if "import" in sections:
        import_section(archive_binary, generator, options, figure)
    if "read" in sections:
        read_section(archive_binary, generator, options, figure)
    if "enrich" in sections:
        enrich_section(archive_binary, generator, options, figure)

    print(f"circle-archive benchmark: {os.cpu_count()} cores, {options.repeat} runs per figure (median)")
    for name, value in figures:
        print(f"{name:44} {value}")


if __name__ == "__main__":
    main()
