#!/usr/bin/env python3
"""circle-archive benchmarks: build a big archive through the real ingest path, then time the
read side. Prints figures; asserts nothing. Machines are shared and noisy, so each timing is the
median of several runs, and figures that matter are ratios measured in the same run.

    python3 bench/run.py                 # 1,000,000 jobs (about 20 minutes on 2 cores, most of it building and importing)
    python3 bench/run.py --jobs 100000   # a quicker look

Work files go to bench/.work/ (git-ignored). The release build is made with `swift build -c release`.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", ".work")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run_measured(arguments, stdout=subprocess.DEVNULL, stdin=None):
    """Runs a command; returns (seconds, peak RSS in MiB). Fails loudly on a non-zero exit."""
    started = time.monotonic()
    process = subprocess.Popen(arguments, stdout=stdout, stdin=stdin, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode()
    if process.returncode != 0:
        sys.exit(f"{' '.join(arguments)} failed ({process.returncode}): {errors}")
    return elapsed, usage.ru_maxrss / 1024, errors


def median_time(arguments, repeat, stdout=subprocess.DEVNULL):
    return statistics.median(run_measured(arguments, stdout=stdout)[0] for _ in range(repeat))


def build():
    log("building release binaries (swift build -c release)…")
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_path, "circle-archive"), os.path.join(bin_path, "circle-archive-bench")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="job runs in the archive (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (median reported)")
    parser.add_argument("--keep", action="store_true", help="reuse bench/.work/ from an earlier run with the same --jobs")
    options = parser.parse_args()

    archive_binary, generator = build()
    os.makedirs(WORK, exist_ok=True)
    events = os.path.join(WORK, f"events-{options.jobs}.jsonl")
    database = os.path.join(WORK, f"archive-{options.jobs}.sqlite")

    figures = []

    def figure(name, value):
        figures.append((name, value))
        log(f"  {name}: {value}")

    if not (options.keep and os.path.exists(events)):
        log(f"generating {options.jobs:,} job events…")
        run_measured([generator, "--jobs", str(options.jobs), "--output", events])
    event_count = sum(1 for _ in open(events, "rb"))

    if not (options.keep and os.path.exists(database)):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(database + suffix):
                os.remove(database + suffix)
        log(f"importing {event_count:,} events through the ingest path…")
        seconds, rss, _ = run_measured([archive_binary, "import", "--db", database, events])
        figure("import events/s", f"{event_count / seconds:,.0f} ({event_count:,} events in {seconds:.1f} s, peak RSS {rss:.0f} MiB)")
    size = sum(os.path.getsize(database + suffix) for suffix in ("", "-wal") if os.path.exists(database + suffix))
    figure("database bytes per event", f"{size / event_count:,.0f} ({size / 2**20:,.0f} MiB)")

    log("timing reports…")
    for by in ("job", "workflow", "branch"):
        seconds = median_time([archive_binary, "report", "durations", "--by", by, "--db", database, "--format", "csv"], options.repeat)
        figure(f"report durations --by {by}", f"{seconds:.2f} s")
    for report in (["trend", "--by", "job", "--every", "week"], ["flaky"], ["failures"], ["slowest", "--limit", "20"]):
        seconds = median_time([archive_binary, "report", *report, "--db", database, "--format", "csv"], options.repeat)
        figure(f"report {' '.join(report)}", f"{seconds:.2f} s")

    log("timing exports…")
    small = max(options.jobs // 10, 1)
    export_all, rss_all, _ = run_measured([archive_binary, "export", "jobs", "--db", database])
    until = subprocess.run([archive_binary, "query", "--db", database, "--format", "csv",
                            f"SELECT stopped_at FROM jobs ORDER BY stopped_at LIMIT 1 OFFSET {small}"],
                           check=True, capture_output=True, text=True).stdout.splitlines()[1]
    _, rss_small, _ = run_measured([archive_binary, "export", "jobs", "--db", database, "--until", until])
    figure("export jobs --format csv peak RSS", f"{rss_all:.0f} MiB for {options.jobs:,} rows, {rss_small:.0f} MiB for {small:,} rows")
    export_seconds = median_time([archive_binary, "export", "jobs", "--db", database, "--format", "csv"], options.repeat)
    sqlite3 = shutil.which("sqlite3")
    if sqlite3:
        floor = median_time([sqlite3, "-csv", "-header", database, "SELECT * FROM job_runs ORDER BY stopped_at, job_id"], options.repeat)
        figure("export jobs --format csv", f"{export_seconds:.2f} s; sqlite3 -csv on the same rows {floor:.2f} s (ratio {export_seconds / floor:.2f})")
    else:
        figure("export jobs --format csv", f"{export_seconds:.2f} s (install sqlite3 to compare with the C floor)")

    print(f"circle-archive benchmark: {options.jobs:,} jobs, {event_count:,} events, {os.cpu_count()} cores")
    for name, value in figures:
        print(f"{name:40} {value}")


if __name__ == "__main__":
    main()
