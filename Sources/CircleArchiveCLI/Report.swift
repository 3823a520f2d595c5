import ArchiveOutput
import ArchiveStore
import ArgumentParser
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer the usual CI questions: durations, trends, flaky jobs and tests, failures, queue time.",
        discussion: """
            Reports read the archive read-only and print through the same formats as query. \
            Time filters apply to completion time (stopped_at); --since is inclusive, --until exclusive.

            Statuses: succeeded is success; failed is failed, error, infrastructure_fail, timedout, \
            unauthorized or terminated-unknown; success_rate = succeeded / (runs - canceled), where \
            runs of unknown status (a workflow seen only through its jobs) do not count either.
            """,
        subcommands: [
            Durations.self, Trend.self, Flaky.self, Failures.self, Slowest.self, Queue.self, TestResults.self, FlakyTests.self, Regressions.self,
        ]
    )

    /// Options every report takes.
    struct Common: ParsableArguments {
        @OptionGroup var archive: ArchiveOptions
        @OptionGroup var filters: RunFilterOptions

        @Option(name: .shortAndLong, help: "Output format: table, csv, json, jsonl or markdown.")
        var format: OutputFormat = .table

        /// Opens the archive read-only and prints what `produce` writes.
        func run(_ produce: (ArchiveReader, RunFilter, inout RowPrinter) throws -> Void) throws {
            let filter = filters.filter
            try printFromArchive(archive, format: format, filter: filter) { reader, printer in try produce(reader, filter, &printer) }
        }
    }

    struct Durations: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run counts, success rate and duration percentiles per job, workflow, project or branch.",
            discussion: """
                --by job groups job runs by project and job name; --by workflow, project and branch \
                group workflow runs. Columns: the keys, then runs, succeeded, failed, canceled, \
                success_rate, mean_s, stddev_s, min_s, p50_s, p90_s, p95_s, p99_s, max_s. Percentiles \
                are nearest-rank over runs with a known duration.

                Examples:
                  circle-archive report durations --by job --since 30d
                  circle-archive report durations --by workflow --project gh/acme/widgets \\
                    --branch main --format csv
                """
        )

        @OptionGroup var common: Common

        @Option(help: "Group by job, workflow, project or branch.")
        var by: DurationGrouping = .job

        func run() throws {
            try common.run { reader, filter, printer in try reader.durationReport(by: by, filter: filter, into: &printer) }
        }
    }

    struct Trend: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The durations figures per day or week, for plotting p50/p95 over time.",
            discussion: """
                Periods are UTC days (2024-06-03) or ISO weeks named by their Monday.

                Examples:
                  circle-archive report trend --by job --job test --every week --since 12w \\
                    --format csv
                  circle-archive report trend --by workflow --every day --since 14d
                """
        )

        @OptionGroup var common: Common

        @Option(help: "Group by job or workflow.")
        var by: TrendGrouping = .job

        @Option(help: "Period: day or week.")
        var every: TrendPeriod = .week

        func run() throws {
            try common.run { reader, filter, printer in
                try reader.durationReport(by: by.grouping, every: every, filter: filter, into: &printer)
            }
        }
    }

    struct Flaky: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Jobs that both succeeded and failed on the same revision.",
            discussion: """
                Per project, workflow and job: flaky_revisions (revisions with a success and a failure), \
                revisions, reruns (runs beyond the first on flaky revisions), failed_runs and \
                failed_time_s spent in them, and when the last flaky failure happened. Most flaky first.

                Example:
                  circle-archive report flaky --since 30d --branch main
                """
        )

        @OptionGroup var common: Common

        func run() throws {
            try common.run { reader, filter, printer in try reader.flakyReport(filter: filter, into: &printer) }
        }
    }

    struct Failures: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Jobs that failed: counts, failure rate, and the last failure's time, branch, revision and link.",
            discussion: """
                failure_rate = failed / (succeeded + failed), the complement of success_rate. \
                Most failures first.

                Example:
                  circle-archive report failures --since 7d --format markdown
                """
        )

        @OptionGroup var common: Common

        func run() throws {
            try common.run { reader, filter, printer in try reader.failureReport(filter: filter, into: &printer) }
        }
    }

    struct Slowest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The slowest individual job runs, with links to them in CircleCI.",
            discussion: """
                Example:
                  circle-archive report slowest --since 7d --limit 10 \\
                    --project gh/acme/widgets
                """
        )

        @OptionGroup var common: Common

        @Option(help: "How many runs to show.")
        var limit = 20

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            try common.run { reader, filter, printer in try reader.slowestReport(filter: filter, limit: limit, into: &printer) }
        }
    }
}

extension Report {
    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How long jobs waited for a machine: queue time per job, resource class or project.",
            discussion: """
                Queue time is started_at - queued_at, known for jobs enriched from CircleCI's API \
                (serve with a token, backfill, or circle-archive enrich). Columns: the keys, then runs \
                (jobs with a known queue time), mean_s, p50_s, p90_s, p95_s, p99_s, max_s; percentiles \
                are nearest-rank.

                Examples:
                  circle-archive report queue --by resource_class --since 30d
                  circle-archive report queue --by job --project gh/acme/widgets --format csv
                """
        )

        @OptionGroup var common: Common

        @Option(help: "Group by job, resource_class or project.")
        var by: QueueGrouping = .job

        func run() throws {
            try common.run { reader, filter, printer in try reader.queueReport(by: by, filter: filter, into: &printer) }
        }
    }
}

extension Report {
    struct TestResults: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tests",
            abstract: "Per test, class or file: runs, passes, failures, failure rate, run time and the last failure.",
            discussion: """
                Test results come from CircleCI's API (serve with a token, backfill, or circle-archive \
                enrich) for jobs that store them (store_test_results). A test is its project, classname \
                and name. Columns: the keys (--by class and --by file add tests, the distinct tests they \
                hold), then runs, passed, failed, skipped, failure_rate = failed / (passed + failed), \
                mean_s, p50_s, p95_s, last_failed_at and last_failure_url. A test's run time is one \
                result's; a class's or file's is what its tests took together in one job. Most failures \
                first. Filters apply to the jobs that ran the tests.

                Examples:
                  circle-archive report tests --since 30d --project gh/acme/widgets
                  circle-archive report tests --by file --job test --format csv
                """
        )

        @OptionGroup var common: Common

        @Option(help: "Group by test, class or file.")
        var by: TestGrouping = .test

        func run() throws {
            try common.run { reader, filter, printer in try reader.testReport(by: by, filter: filter, into: &printer) }
        }
    }

    struct FlakyTests: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tests that both passed and failed on the same revision in the same job: flaky tests, most flaky first.",
            discussion: """
                A test is flaky on a revision when, in the same workflow and job, one run passed and \
                another failed (a rerun, or a retry within the job): nothing in the code changed. A test \
                that fails in one job and passes in another (say, only on macOS) is broken there, not \
                flaky. Unlike CircleCI's Insights, which looks at the last 14 days, this covers \
                everything archived (narrow it with --since).

                Columns: project, classname, test; flaky_revisions; revisions it passed or failed on; \
                flaky_rate = flaky_revisions / revisions; failures on its flaky revisions; first_flaky_at; \
                and the last flaky failure's time, job, message (its first line) and link. Most flaky \
                revisions first, then most failures, then the most recent.

                Examples:
                  circle-archive report flaky-tests --since 90d
                  circle-archive report flaky-tests --branch main --format csv > flaky-tests.csv
                """
        )

        @OptionGroup var common: Common

        func run() throws {
            try common.run { reader, filter, printer in try reader.flakyTestReport(filter: filter, into: &printer) }
        }
    }
}

extension Report {
    struct Regressions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Jobs getting worse: the last days against the weeks before, in median duration or failure rate.",
            discussion: """
                Compares the last --recent-days before the end of the window (--until, else the newest \
                event) with the --baseline-days before those. A job is listed when its p50 duration \
                rose by a fifth or more, or its failure rate by 5 points or more, with at least 3 runs \
                on each side. Columns: project, job, runs_before, runs_recent, p50_before_s, \
                p50_recent_s, p50_change (recent / before - 1), failure_rate_before, \
                failure_rate_recent. Worst first. The dashboard's overview shows it.

                Examples:
                  circle-archive report regressions
                  circle-archive report regressions --recent-days 14 --branch main
                """
        )

        @OptionGroup var common: Common

        @Option(help: "Days of recent runs.")
        var recentDays = 7

        @Option(help: "Days before those to compare with.")
        var baselineDays = 28

        func validate() throws {
            guard recentDays > 0, baselineDays > 0 else { throw ValidationError("--recent-days and --baseline-days must be positive") }
        }

        func run() throws {
            try common.run { reader, filter, printer in
                try reader.regressionReport(filter: filter, recentDays: recentDays, baselineDays: baselineDays, into: &printer)
            }
        }
    }
}

extension TestGrouping: ExpressibleByArgument {}

extension QueueGrouping: ExpressibleByArgument {}

extension DurationGrouping: ExpressibleByArgument {}

/// What `report trend --by` accepts: the groupings whose runs have a time series of their own.
enum TrendGrouping: String, CaseIterable, ExpressibleByArgument {
    case job
    case workflow

    var grouping: DurationGrouping { self == .job ? .job : .workflow }
}
extension TrendPeriod: ExpressibleByArgument {}

extension OutputFormat: ExpressibleByArgument {}
