#!/usr/bin/env python3
"""Copies an archive's views into Parquet, one folder per month, for a warehouse (BigQuery, Spark,
Trino, Snowflake, DuckDB itself). Reads the archive read-only through DuckDB's sqlite extension.

    pip install duckdb==1.4.4 duckdb-ext-sqlite==1.4.4.20260205
    python3 deploy/to-parquet.py --db circle-archive.sqlite --out warehouse

Writes warehouse/job_runs/month=2024-06/*.parquet, and the same for workflow_runs, pipeline_runs
and test_runs. Computed columns of SQLite views have no declared type, so DuckDB reads them as
text: durations are cast to DOUBLE here, and times to TIMESTAMPTZ. Run it again into an empty
folder (DuckDB refuses to overwrite); to refresh one month, write only that month with a WHERE.
"""

import argparse
import glob
import os
import sys

import duckdb

# The archive's views and the time that names a row's month.
VIEWS = {
    "job_runs": "stopped_at",
    "workflow_runs": "stopped_at",
    "pipeline_runs": "created_at",
    "test_runs": "stopped_at",
}
TIMES = ["created_at", "started_at", "stopped_at", "queued_at"]
NUMBERS = ["duration_seconds", "queue_seconds", "run_time_seconds"]


def sqlite_extension():
    """The sqlite extension from the duckdb-ext-sqlite package: nothing is downloaded."""
    import duckdb_ext

    found = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], "extensions", f"v{duckdb.__version__}", "*", "sqlite_scanner.duckdb_extension"))
    if not found:
        sys.exit(f"no sqlite extension for DuckDB {duckdb.__version__}: pip install duckdb-ext-sqlite matching it")
    return found[0]


def quoted(text):
    """A SQL string literal (ATTACH, LOAD and COPY take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the archive (read-only)")
    parser.add_argument("--out", required=True, help="the folder to write, which must not hold these tables yet")
    options = parser.parse_args()
    connection = duckdb.connect()
    connection.execute(f"LOAD {quoted(sqlite_extension())}")
    connection.execute(f"ATTACH {quoted(options.db)} AS archive (TYPE sqlite, READ_ONLY)")
    os.makedirs(options.out, exist_ok=True)
    for view, month in VIEWS.items():
        columns = [row[0] for row in connection.execute(f"DESCRIBE archive.{view}").fetchall()]
        selected = []
        for column in columns:
            if column in TIMES:
                selected.append(f"CAST({column} AS TIMESTAMPTZ) AS {column}")
            elif column in NUMBERS:
                selected.append(f"CAST({column} AS DOUBLE) AS {column}")
            else:
                selected.append(column)
        target = os.path.join(options.out, view)
        rows = connection.execute(
            f"COPY (SELECT {', '.join(selected)}, substr({month}, 1, 7) AS month FROM archive.{view} WHERE {month} IS NOT NULL) "
            f"TO {quoted(target)} (FORMAT parquet, PARTITION_BY (month))"
        ).fetchone()[0]
        print(f"{view}: {rows} rows in {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
