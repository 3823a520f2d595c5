import ArchiveMigrations
import ArchiveModel
import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

@testable import CircleArchiveCLI

/// An archive with the sample events plus commit messages full of CSV's special characters.
func reportArchive() async throws -> String {
    let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
    let store = try ArchiveStore(path: path)
    for event in sampleEvents {
        _ = try await store.receive(Delivery(body: Array(event.utf8)))
    }
    // The `test` job enriched, as serve with a token would: queued 8 s before it started, two tests,
    // one of them failed once and passed when retried within the job: a flaky test.
    let jobID = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
    let details = JobDetails(jobID: jobID, queuedAt: Timestamp(iso8601: "2024-03-05T10:11:20.841Z"), resourceClass: "large", executorType: "docker")
    let tests = [
        TestResult(classname: "WidgetTest", name: "saves", result: "success", runTimeSeconds: 0.25),
        TestResult(classname: "WidgetTest", name: "loads", result: "failure", runTimeSeconds: 1.5, message: "expected true"),
        TestResult(classname: "WidgetTest", name: "loads", result: "success", runTimeSeconds: 0.5),
    ]
    try await store.store(JobEnrichment(jobID: jobID, outcome: .enriched(details, tests: tests)), dequeuing: nil)
    try store.close()
    return path
}

@Suite struct ReportCommandTests {
    @Test func timeBoundsAcceptDatesDateTimesAndDurationsAgo() throws {
        let now = try #require(Timestamp(iso8601: "2024-06-10T12:00:00Z"))
        let cases: [(String, String?)] = [
            ("30m", "2024-06-10T11:30:00.000Z"), ("24h", "2024-06-09T12:00:00.000Z"), ("7d", "2024-06-03T12:00:00.000Z"),
            ("2w", "2024-05-27T12:00:00.000Z"), ("0m", "2024-06-10T12:00:00.000Z"), ("2024-06-01", "2024-06-01T00:00:00.000Z"),
            ("2024-06-01T08:30:00Z", "2024-06-01T08:30:00.000Z"), ("2024-06-01T08:30:00", "2024-06-01T08:30:00.000Z"),
            ("2024-06-01T08:30", "2024-06-01T08:30:00.000Z"), ("2024-06-01T10:30:00+02:00", "2024-06-01T08:30:00.000Z"),
            ("yesterday", nil), ("7y", nil), ("-3d", nil), ("2024-13-01", nil), ("", nil),
        ]
        for (text, expected) in cases {
            #expect(Timestamp(bound: text, now: now)?.iso8601 == expected, "\(text)")
        }
    }

    @Test func reportsPrintThroughEveryFormat() async throws {
        let path = try await reportArchive()
        let csv = try await run(["report", "durations", "--by", "job", "--db", path, "--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\r\n")
        #expect(lines.first == "project,job,runs,succeeded,failed,canceled,success_rate,mean_s,stddev_s,min_s,p50_s,p90_s,p95_s,p99_s,max_s")
        #expect(lines.contains("gh/acme/widgets,test,1,1,0,0,1.0,65.329,,65.329,65.329,65.329,65.329,65.329,65.329"))
        for subcommand in [
            ["durations", "--by", "workflow"], ["durations", "--by", "branch"], ["durations", "--by", "project"],
            ["trend", "--every", "day"], ["flaky"], ["failures"], ["slowest", "--limit", "2"], ["queue"], ["tests"],
            ["tests", "--by", "class"], ["tests", "--by", "file"], ["flaky-tests"],
        ] {
            for format in ["table", "json", "jsonl", "markdown"] {
                let result = try await run(["report"] + subcommand + ["--db", path, "--format", format])
                #expect(result.status == 0, "\(subcommand) \(format): \(result.stderr)")
            }
        }
        let json = try await run(["report", "failures", "--db", path, "--format", "json"])
        #expect(try JSONValue(parsing: Array(json.stdout.utf8)) != .null)
    }

    @Test func testsReportListsTheFailingTestFirst() async throws {
        let path = try await reportArchive()
        let result = try await run(["report", "tests", "--db", path, "--format", "csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let url = "https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a/jobs/136"
        #expect(
            result.stdout.split(separator: "\r\n") == [
                "project,classname,test,runs,passed,failed,skipped,failure_rate,mean_s,p50_s,p95_s,last_failed_at,last_failure_url",
                "gh/acme/widgets,WidgetTest,loads,2,1,1,0,0.5,1.0,0.5,1.5,2024-03-05T10:12:34.170Z,\(url)",
                "gh/acme/widgets,WidgetTest,saves,1,1,0,0,0.0,0.25,0.25,0.25,,",
            ]
        )
        let byClass = try await run(["report", "tests", "--by", "class", "--db", path, "--format", "csv"])
        #expect(
            byClass.stdout.split(separator: "\r\n").last
                == "gh/acme/widgets,WidgetTest,2,3,2,1,0,0.3333,2.25,2.25,2.25,2024-03-05T10:12:34.170Z,\(url)"
        )
        let flaky = try await run(["report", "flaky-tests", "--db", path, "--format", "csv"])
        #expect(
            flaky.stdout.split(separator: "\r\n").dropFirst() == [
                "gh/acme/widgets,WidgetTest,loads,1,1,1.0,1,2024-03-05T10:12:34.170Z,2024-03-05T10:12:34.170Z,test,expected true,\(url)"
            ],
            "failed, then passed when retried in the same job"
        )
    }

    @Test func relativeTimeFiltersSelectByCompletionTime() async throws {
        let path = try await reportArchive()
        let everything = try await run(["report", "slowest", "--db", path, "-f", "csv", "--since", "1000w"])
        #expect(everything.stdout.split(separator: "\r\n").count == 5, "header and four runs")
        let nothing = try await run(["report", "slowest", "--db", path, "-f", "csv", "--since", "0m"])
        #expect(nothing.stdout.split(separator: "\r\n").count == 1)
        let window = try await run(["report", "slowest", "--db", path, "-f", "csv", "--since", "2024-04-01", "--until", "2024-05-01"])
        #expect(window.stdout.split(separator: "\r\n").count == 2, "only the GitLab run in April")
        let project = try await run(["report", "slowest", "--db", path, "-f", "csv", "--project", "gh/acme/widgets", "--job", "lint"])
        #expect(project.stdout.split(separator: "\r\n").count == 2)
    }

    /// A filter that matches nothing keeps the empty result and exit 0, and says so on stderr;
    /// an unknown project is named with the slugs there are. A filter that matches, in a window
    /// with no runs, stays quiet.
    @Test func aFilterThatMatchesNothingSaysSo() async throws {
        let path = try await reportArchive()
        let cases: [([String], String)] = [
            (
                ["--project", "gh/acme/widgts"],
                "warning: --project gh/acme/widgts matches no project; the archive has circleci/9z8Pam/AHWysF, circleci/DdaVtNus/6EkDPZoN, gh/acme/widgets"
            ),
            (["--job", "tset"], "warning: --job tset matches no job in the archive"),
            (["--workflow", "nightly"], "warning: --workflow nightly matches no workflow in the archive"),
            (["--branch", "mian"], "warning: --branch mian matches no pipeline's branch in the archive"),
            (
                ["--since", "2024-06-01", "--until", "2024-05-01"],
                "warning: --since 2024-06-01T00:00:00.000Z is not before --until 2024-05-01T00:00:00.000Z"
            ),
        ]
        for (filter, warning) in cases {
            for command in [["report", "slowest"], ["report", "durations", "--by", "workflow"], ["export", "jobs"]] {
                let result = try await run(command + ["--db", path, "-f", "csv"] + filter)
                #expect(result.status == 0, "\(command) \(filter)")
                #expect(result.stdout.split(separator: "\r\n").count == 1, "only the header: \(result.stdout)")
                #expect(result.stderr.contains(warning), "\(command) \(filter): \(result.stderr)")
            }
        }
        let oneTypo = try await run([
            "report", "slowest", "--db", path, "-f", "csv", "--project", "gh/acme/widgets", "--project", "github/acme/gadgets",
        ])
        #expect(oneTypo.stdout.split(separator: "\r\n").count > 1)
        #expect(oneTypo.stderr.contains("--project gh/acme/gadgets matches no project"), "named in the stored spelling: \(oneTypo.stderr)")
        let quiet = try await run(["report", "slowest", "--db", path, "-f", "csv", "--job", "test", "--since", "0m"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let viaGitHub = try await run(["report", "slowest", "--db", path, "-f", "csv", "--project", "github/acme/widgets"])
        #expect(viaGitHub.stdout.split(separator: "\r\n").count == 3 && viaGitHub.stderr.isEmpty, "\(viaGitHub)")
    }

    @Test func badReportArgumentsAreUsageErrors() async throws {
        let path = try await reportArchive()
        for arguments in [
            ["report", "durations", "--by", "pipeline"], ["report", "trend", "--by", "project"], ["report", "slowest", "--limit", "0"],
            ["report", "flaky", "--since", "last week"], ["export", "jobs", "--format", "table"], ["export", "builds"],
        ] {
            let result = try await run(arguments + ["--db", path])
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func exportedCSVSurvivesAStandardCSVReader() async throws {
        let path = try await reportArchive()
        for source in ["jobs", "workflows", "pipelines", "events"] {
            let csv = try await run(["export", source, "--db", path])
            #expect(csv.status == 0)
            let jsonl = try await run(["export", source, "--db", path, "--format", "jsonl"])
            // Python's csv module reads the CSV back; every field must equal the JSON export's
            // value (NULL is an empty field, numbers compare as text).
            let script = """
                import csv, io, json, sys
                rows = list(csv.DictReader(io.StringIO(sys.argv[1], newline="")))
                objects = [json.loads(line) for line in sys.argv[2].splitlines()]
                assert len(rows) == len(objects), (len(rows), len(objects))
                def text(v):
                    return "" if v is None else (repr(v) if isinstance(v, float) else str(v))
                for row, obj in zip(rows, objects):
                    assert list(row.keys()) == list(obj.keys())
                    for key in obj:
                        assert row[key] == text(obj[key]), (key, row[key], obj[key])
                print(len(rows))
                """
            let check = try await blockingWork { try runPython(script, arguments: [csv.stdout, jsonl.stdout]) }
            #expect(check.status == 0, "\(source): \(check.stderr)")
            #expect(Int(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0, "\(source)")
        }
        let pipelines = try await run(["export", "pipelines", "--db", path, "--format", "jsonl"])
        #expect(pipelines.stdout.contains(#""commit_body":"The retry loop, \"again\".\nSecond line, with a comma.""#))
    }

    @Test func exportToAFileReplacesItWhole() async throws {
        let path = try await reportArchive()
        let output = try makeTemporaryDirectory().appendingPathComponent("jobs.csv").path
        try "stale".write(toFile: output, atomically: true, encoding: .utf8)
        let result = try await run(["export", "jobs", "--db", path, "--output", output])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        let written = try String(contentsOfFile: output, encoding: .utf8)
        #expect(written.hasPrefix("job_id,job_number,job_name,"))
        #expect(written == (try await run(["export", "jobs", "--db", path])).stdout)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: output).deletingLastPathComponent().path)
        #expect(leftovers == ["jobs.csv"])
        #expect(try await run(["export", "jobs", "--db", path, "--output", "/nonexistent/dir/jobs.csv"]).status == 1)
    }

    @Test func statsAndBackup() async throws {
        let path = try await reportArchive()
        let stats = try await run(["stats", "--db", path, "--format", "csv"])
        #expect(stats.status == 0)
        for line in [
            "schema_version," + Migrations.all.last!.id, "quick_check,ok", "counters.rejected_deliveries_dropped,0", "rows.events,10",
            "rows.jobs,4", "first_event_at,2024-03-05T10:12:34.279Z",
        ] {
            #expect(stats.stdout.contains(line + "\r\n"), "\(line)")
        }
        let copy = try makeTemporaryDirectory().appendingPathComponent("copy.sqlite").path
        let backup = try await run(["backup", "--db", path, copy])
        #expect(backup.status == 0)
        #expect(backup.stderr.contains("backed up"))
        #expect(try await archiveContents(copy) == archiveContents(path))
        #expect(try await run(["backup", "--db", path, copy]).status == 1, "never overwrites")
    }
}

/// Runs a Python 3 script with arguments.
func runPython(_ script: String, arguments: [String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self)
    )
}
