#!/usr/bin/env python3
"""Drives headless Chromium over a running dashboard, as a person would, and checks what they see.

    python3 Tests/Browser/check_dashboard.py --base http://127.0.0.1:PORT --binary .build/debug/circle-archive \
        --db archive.sqlite --project gh/acme/widgets --job test --hostile-job '<script>…' --screenshots DIR

Run by CLITests' BrowserTests against `circle-archive dashboard` on an archive the test built. Uses
Debian's chromium and chromium-driver (installed with apt-get when missing) through selenium from
PyPI (installed into .build/browser-venv when missing); nothing is downloaded at run time beyond
those packages. Checks, on every page: it loads with no console error (a Content-Security-Policy
violation is one), no request leaves the origin, and a screenshot is kept. Then: charts are drawn
from the archive's data (a point per run), a table's figures are the CLI report's, the filter form
changes what is shown, and hostile names render as text. Exits 1 with what failed.
"""

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".build", "browser-venv")
SELENIUM = "selenium==4.27.1"


def log(message):
    print(message, file=sys.stderr, flush=True)


def ensure_browser():
    missing = [package for binary, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")) if not shutil.which(binary)]
    if missing:
        log(f"installing {', '.join(missing)} with apt-get…")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL, env=environment)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL, env=environment)


def ensure_selenium():
    """Re-runs this script with a virtualenv that has selenium, unless this Python has it."""
    try:
        import selenium  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python3")
    if sys.executable == python:
        sys.exit("selenium did not install into " + VENV)
    if not os.path.exists(python):
        log(f"installing {SELENIUM} into {VENV}…")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", SELENIUM], check=True)
    os.execv(python, [python, *sys.argv])


class Check:
    def __init__(self, options):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.options = options
        self.failures = []
        chrome = webdriver.ChromeOptions()
        chrome.binary_location = shutil.which("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            chrome.add_argument(argument)
        chrome.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=chrome)
        self.driver.set_page_load_timeout(30)

    def expect(self, condition, message):
        if not condition:
            self.failures.append(message)
            log("FAIL " + message)

    def url(self, path, **query):
        items = [(key, value) for key, values in query.items() for value in (values if isinstance(values, list) else [values])]
        return self.options.base + path + ("?" + urllib.parse.urlencode(items) if items else "")

    def visit(self, name, url):
        """Loads a page; checks the console and every request; keeps a full-page screenshot."""
        self.driver.get_log("browser")
        self.driver.get_log("performance")
        self.driver.get(url)
        self.expect(self.driver.execute_script("return document.readyState") == "complete", f"{name}: did not finish loading")
        for entry in self.driver.get_log("browser"):
            self.expect(entry["level"] not in ("SEVERE", "ERROR"), f"{name}: console {entry['level']}: {entry['message']}")
        origin = self.options.base.rstrip("/")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                requested = message["params"]["request"]["url"]
                self.expect(requested.startswith(origin + "/") or requested.startswith("data:"), f"{name}: a request left the origin: {requested}")
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1400, max(1000, min(height + 40, 12000)))
        self.driver.save_screenshot(os.path.join(self.options.screenshots, name + ".png"))
        self.driver.set_window_size(1400, 1000)

    def count(self, selector):
        return self.driver.execute_script(f"return document.querySelectorAll({json.dumps(selector)}).length")

    def cli(self, *arguments):
        result = subprocess.run([self.options.binary, *arguments, "--db", self.options.db], check=True, capture_output=True, text=True)
        return result.stdout

    def table(self, heading):
        """The header and rows of the table under an h2, as the page shows their text."""
        script = """
            const heading = [...document.querySelectorAll('h2')].find(h => h.textContent === arguments[0]);
            let node = heading && heading.nextElementSibling;
            while (node && !node.querySelector('table') && node.tagName !== 'H2') node = node.nextElementSibling;
            const table = node && node.querySelector('table');
            if (!table) return null;
            return [...table.querySelectorAll('tr')].map(tr => [...tr.children].map(cell => cell.textContent));
        """
        return self.driver.execute_script(script, heading)

    def run(self):
        options = self.options
        project, job = options.project, options.job

        # Overview: charts drawn from the archive, and the freshness line.
        self.visit("overview", self.url("/", since="all"))
        self.expect(self.count("svg rect.runs") > 0, "overview: no bars of runs per day")
        self.expect(self.count("svg polyline.rate") > 0, "overview: no failure-rate line")
        self.expect("Newest event" in self.driver.page_source, "overview: no freshness line")

        # Project: its jobs table is the CLI's `report durations --by job`, figure for figure.
        self.visit("project", self.url("/project", project=project, since="all"))
        expected = list(csv.reader(io.StringIO(self.cli("report", "durations", "--by", "job", "--project", project, "--format", "csv"))))
        shown = self.table("Jobs")
        self.expect(shown == expected, f"project: the Jobs table differs from the CLI's report:\n{shown}\n{expected}")

        # The filter form: a branch narrows the table to what the CLI reports for that branch.
        field = self.driver.find_element("css selector", "form.filters input[name=branch]")
        field.send_keys(options.branch)
        field.submit()
        self.expect(f"branch={options.branch}" in self.driver.current_url, f"filters: the form did not put the branch in the URL: {self.driver.current_url}")
        narrowed = list(csv.reader(io.StringIO(self.cli("report", "durations", "--by", "job", "--project", project, "--branch", options.branch, "--format", "csv"))))
        shown = self.table("Jobs")
        self.expect(shown == narrowed and narrowed != expected, f"filters: with branch={options.branch} the Jobs table is {shown}, the CLI's {narrowed}")

        # Job: a point per run with a known duration, failed ones in red.
        self.visit("job", self.url("/job", project=project, job=job, since="all"))
        runs = self.cli("query", "--format", "csv", f"SELECT count(*), sum(job_status = 'failed') FROM job_runs WHERE job_name = '{job}' AND duration_seconds IS NOT NULL")
        total, failed = (int(value) for value in runs.splitlines()[1].split(","))
        self.expect(self.count("svg circle.run") + self.count("svg circle.failed") == total, f"job: {total} runs, points drawn: {self.count('svg circle.run')} + {self.count('svg circle.failed')}")
        self.expect(self.count("svg circle.failed") == failed, f"job: {failed} failed runs, red points: {self.count('svg circle.failed')}")

        # Workflow and tests pages load, and the tests page lists the flaky test.
        self.visit("workflow", self.url("/workflow", project=project, workflow=options.workflow, since="all"))
        self.visit("tests", self.url("/tests", since="all"))
        flaky = self.table("Flaky tests") or []
        self.expect(any(options.flaky_test in row for row in flaky), f"tests: {options.flaky_test} is not among the flaky tests: {flaky}")

        # Hostile names: shown as text, nothing injected runs or loads.
        self.visit("hostile", self.url("/job", project=project, job=options.hostile_job, since="all"))
        self.expect(self.count("script") == 0 and self.count("img") == 0, "hostile: a script or img element was injected")
        self.expect(options.hostile_job in self.driver.find_element("css selector", "h1").text, "hostile: the job's name is not shown as text")
        self.expect(self.driver.execute_script("return window.pwned") is None, "hostile: injected code ran")
        self.driver.quit()
        return self.failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("base", "binary", "db", "project", "job", "workflow", "branch", "flaky-test", "hostile-job", "screenshots"):
        parser.add_argument("--" + name, required=True)
    options = parser.parse_args()
    ensure_browser()
    ensure_selenium()
    os.makedirs(options.screenshots, exist_ok=True)
    failures = Check(options).run()
    print(f"screenshots in {options.screenshots}")
    if failures:
        sys.exit(f"{len(failures)} checks failed")
    print("every dashboard check passed")


if __name__ == "__main__":
    main()
