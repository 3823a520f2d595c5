#!/usr/bin/env python3
"""Runs the pinned Datasette from PyPI over a live archive, the way docker-compose.yml does, and
fetches every canned query of metadata.yml as JSON and CSV. Prints what it fetched; exits 1 on the
first failure.

    python3 datasette/check.py

Builds the release binary, generates events with circle-archive-bench, starts `circle-archive
serve` on a fresh archive and imports the events while it runs, then serves the archive's
directory to Datasette through a read-only bind mount (as the compose file's `:ro` volume does;
needs root, else the directory is served as it is). Installs Datasette into a virtualenv under
bench/.work/. Needs network access to PyPI the first time.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", ".work")
VERSION = re.search(r"datasette==([0-9.]+)", open(os.path.join(ROOT, "datasette", "Dockerfile")).read()).group(1)


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url, process):
    deadline = time.monotonic() + 60
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                sys.exit(f"{url} did not answer")
            time.sleep(0.2)


def main():
    os.makedirs(WORK, exist_ok=True)
    venv = os.path.join(WORK, f"datasette-{VERSION}")
    datasette = os.path.join(venv, "bin", "datasette")
    if not os.path.exists(datasette):
        log(f"installing datasette {VERSION} into {venv}…")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", f"datasette=={VERSION}"], check=True)

    log("building release binaries…")
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()

    directory = tempfile.mkdtemp(dir=WORK)
    view = directory + "-ro"
    mounted = False
    processes = []
    try:
        archive = os.path.join(directory, "archive.sqlite")
        events = os.path.join(directory, "events.jsonl")
        subprocess.run([os.path.join(bin_path, "circle-archive-bench"), "--jobs", "3000", "--output", events], check=True)
        port = free_port()
        server = subprocess.Popen([os.path.join(bin_path, "circle-archive"), "serve", "--db", archive, "--port", str(port)],
                                  env={**os.environ, "CIRCLE_ARCHIVE_SECRETS": "check"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(server)
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        subprocess.run([os.path.join(bin_path, "circle-archive"), "import", "--db", archive, events], check=True)

        os.makedirs(view)
        if os.geteuid() == 0:
            subprocess.run(["mount", "--bind", directory, view], check=True)
            mounted = True
            subprocess.run(["mount", "-o", "remount,bind,ro", view], check=True)
        else:
            log("not root: serving the directory without a read-only mount")
            os.rmdir(view)
            view = directory

        datasette_port = free_port()
        browser = subprocess.Popen([datasette, "serve", os.path.join(view, "archive.sqlite"), "--port", str(datasette_port),
                                    "--metadata", os.path.join(ROOT, "datasette", "metadata.yml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(browser)
        base = f"http://127.0.0.1:{datasette_port}"
        wait_for(base + "/-/versions.json", browser)

        metadata = json.loads(urllib.request.urlopen(base + "/-/metadata.json").read())
        queries = metadata["databases"]["archive"]["queries"]
        for name in queries:
            rows = json.loads(urllib.request.urlopen(f"{base}/archive/{name}.json?days=100000&_shape=array").read())
            csv = urllib.request.urlopen(f"{base}/archive/{name}.csv?days=100000").read().decode()
            if not rows or len(csv.splitlines()) != len(rows) + 1:
                sys.exit(f"{name}: {len(rows)} rows as JSON, {len(csv.splitlines())} lines as CSV")
            print(f"{name}: {len(rows)} rows; first: {json.dumps(rows[0])[:160]}")
        print(f"datasette {VERSION}: {len(queries)} canned queries answered over a read-only view of a live archive")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        if mounted:
            subprocess.run(["umount", view], check=False)
            os.rmdir(view)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
