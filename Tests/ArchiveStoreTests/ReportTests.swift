import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// One job run of the fixture archive.
struct FixtureRun {
    var job: String
    var status: String
    /// Seconds; nil for a run whose start is unknown.
    var duration: Double?
    /// Seconds after 2024-06-03T00:00:00Z (a Monday) at which the run stopped.
    var stoppedAfter: Double
    var revision = "aaaaaaaa"
    var workflow = "build"

    static let origin = Timestamp(iso8601: "2024-06-03T00:00:00Z")!

    var stoppedAt: Timestamp { Timestamp(microseconds: Self.origin.microseconds + Int64(stoppedAfter * 1_000_000)) }
}

/// The archive the report tests read: one project, job runs with known shapes.
let fixtureRuns: [FixtureRun] = {
    var runs: [FixtureRun] = []
    // "test": eleven runs with ties (20 twice, 60 twice), one without duration, failures and a cancel.
    let tests: [(String, Double?)] = [
        ("success", 10), ("success", 20), ("failed", 20), ("success", 30), ("canceled", 45.5), ("success", 60), ("failed", 60),
        ("success", 70.25), ("success", nil), ("success", 90), ("error", 100),
    ]
    for (index, (status, duration)) in tests.enumerated() {
        runs.append(FixtureRun(job: "test", status: status, duration: duration, stoppedAfter: Double(index) * 3600, revision: "rev\(index % 4)"))
    }
    // "deploy": a single run.
    runs.append(FixtureRun(job: "deploy", status: "success", duration: 12.5, stoppedAfter: 7200))
    // "lint": only canceled runs and no durations.
    runs.append(FixtureRun(job: "lint", status: "canceled", duration: nil, stoppedAfter: 100))
    runs.append(FixtureRun(job: "lint", status: "canceled", duration: nil, stoppedAfter: 8 * 86400))
    return runs
}()

func fixtureArchive() async throws -> ArchiveStore {
    let (store, _) = try makeStore()
    for (index, run) in fixtureRuns.enumerated() {
        let started = run.duration.map { Timestamp(microseconds: run.stoppedAt.microseconds - Int64($0 * 1_000_000)).iso8601 }
        let body = Fixtures.jobCompleted(
            id: "event-\(index)",
            happenedAt: run.stoppedAt.iso8601,
            jobID: "job-\(index)",
            number: index,
            name: run.job,
            status: run.status,
            startedAt: started,
            stoppedAt: run.stoppedAt.iso8601,
            workflowID: "wf-\(index)",
            workflowName: run.workflow,
            pipeline: Fixtures.githubPipeline(id: "pl-\(run.revision)", revision: run.revision)
        )
        #expect(try await store.receive(body) == .stored(id: "event-\(index)", completesRun: true))
    }
    return store
}

/// The durations figures computed the plain way, independently of the store's implementation.
func expectedFigures(_ runs: [FixtureRun]) -> [SQLValue] {
    let succeeded = runs.filter { $0.status == "success" }.count
    let failed = runs.filter { ["failed", "error"].contains($0.status) }.count
    let canceled = runs.filter { $0.status == "canceled" }.count
    let rate: SQLValue = runs.count - canceled == 0 ? .null : .real((Double(succeeded) / Double(runs.count - canceled) * 10000).rounded() / 10000)
    let durations = runs.compactMap(\.duration).sorted()
    var figures: [SQLValue] = [.integer(Int64(runs.count)), .integer(Int64(succeeded)), .integer(Int64(failed)), .integer(Int64(canceled)), rate]
    if durations.isEmpty { return figures + Array(repeating: .null, count: 8) }
    let n = Double(durations.count)
    let mean = durations.reduce(0, +) / n
    var squares = 0.0
    for value in durations { squares += (value - mean) * (value - mean) }
    let stddev: SQLValue = durations.count < 2 ? .null : .real((sqrt(squares / (n - 1)) * 1000).rounded() / 1000)
    func nearestRank(_ p: Double) -> SQLValue { .real(durations[Int(ceil(p / 100 * n)) - 1]) }
    figures += [.real((mean * 1000).rounded() / 1000), stddev, .real(durations.first!)]
    figures += [nearestRank(50), nearestRank(90), nearestRank(95), nearestRank(99), .real(durations.last!)]
    return figures
}

func report(_ produce: (inout RowCollector) throws -> Void) rethrows -> RowCollector {
    var collector = RowCollector()
    try produce(&collector)
    return collector
}

@Suite struct ReportTests {
    @Test func durationsByJobMatchAnIndependentComputation() async throws {
        let store = try await fixtureArchive()
        let result = try report { try store.reader.durationReport(by: .job, filter: RunFilter(), into: &$0) }
        #expect(result.columns == ["project", "job"] + ArchiveReader.durationColumns)
        #expect(result.rows.map { $0[1] } == [.text("deploy"), .text("lint"), .text("test")], "sorted by key")
        for row in result.rows {
            guard case .text(let job) = row[1] else { continue }
            #expect(row[0] == .text("gh/acme/widgets"))
            #expect(Array(row[2...]) == expectedFigures(fixtureRuns.filter { $0.job == job }), "\(job)")
        }
        // Spot-check the nearest-rank arithmetic by hand for "test": ten durations,
        // sorted 10 20 20 30 45.5 60 60 70.25 90 100; p50 is rank 5, p90 rank 9, p95 and p99 rank 10.
        let test = try #require(result.rows.first { $0[1] == .text("test") })
        #expect(Array(test[2...6]) == [.integer(11), .integer(7), .integer(3), .integer(1), .real(0.7)])
        #expect(Array(test[9...14]) == [.real(10), .real(45.5), .real(90), .real(100), .real(100), .real(100)])
        let lint = try #require(result.rows.first { $0[1] == .text("lint") })
        #expect(lint[6] == .null, "no success rate when every run was canceled")
        #expect(lint[7] == .null && lint[14] == .null, "no duration figures without durations")
        let deploy = try #require(result.rows.first { $0[1] == .text("deploy") })
        #expect(deploy[8] == .null, "no standard deviation for a single run")
        #expect(deploy[9] == .real(12.5) && deploy[13] == .real(12.5))
    }

    @Test func timeFiltersIncludeSinceAndExcludeUntil() async throws {
        let store = try await fixtureArchive()
        // "test" runs stop every hour from the origin; [1h, 4h) holds runs 1, 2 and 3.
        let since = Timestamp(microseconds: FixtureRun.origin.microseconds + 3_600_000_000)
        let until = Timestamp(microseconds: FixtureRun.origin.microseconds + 4 * 3_600_000_000)
        let result = try report {
            try store.reader.durationReport(by: .job, filter: RunFilter(since: since, until: until, job: "test"), into: &$0)
        }
        #expect(result.rows.count == 1)
        #expect(Array(result.rows[0][2...]) == expectedFigures(Array(fixtureRuns[1...3])))
        let empty = try report {
            try store.reader.durationReport(by: .job, filter: RunFilter(since: until, until: until), into: &$0)
        }
        #expect(empty.rows.isEmpty)
    }

    @Test func filtersNarrowByProjectBranchWorkflowAndJob() async throws {
        let store = try await fixtureArchive()
        for (filter, expected) in [
            (RunFilter(projects: ["gh/acme/widgets"]), 3), (RunFilter(projects: ["gh/other/repo"]), 0),
            (RunFilter(projects: ["gh/other/repo", "gh/acme/widgets"]), 3), (RunFilter(branch: "main"), 3), (RunFilter(branch: "dev"), 0),
            (RunFilter(workflow: "build"), 3), (RunFilter(workflow: "nope"), 0), (RunFilter(job: "lint"), 1),
        ] {
            let result = try report { try store.reader.durationReport(by: .job, filter: filter, into: &$0) }
            #expect(result.rows.count == expected, "\(filter)")
        }
    }

    @Test func trendSplitsFiguresByDayAndByWeek() async throws {
        let store = try await fixtureArchive()
        let weekly = try report { try store.reader.durationReport(by: .job, every: .week, filter: RunFilter(job: "lint"), into: &$0) }
        #expect(weekly.columns.prefix(3) == ["project", "job", "period"])
        #expect(weekly.rows.map { $0[2] } == [.text("2024-06-03"), .text("2024-06-10")], "ISO weeks named by their Monday")
        let daily = try report { try store.reader.durationReport(by: .job, every: .day, filter: RunFilter(job: "test"), into: &$0) }
        #expect(daily.rows.map { $0[2] } == [.text("2024-06-03")])
        #expect(Array(daily.rows[0][3...]) == expectedFigures(fixtureRuns.filter { $0.job == "test" }))
    }

    @Test func workflowsOfUnknownStatusCountAsRunsButNotInTheRate() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.githubAppJobCompleted)
        _ = try await store.receive(Fixtures.workflowCompleted())
        let result = try report { try store.reader.durationReport(by: .workflow, filter: RunFilter(), into: &$0) }
        let unknown = try #require(result.rows.first { $0[1] == .text("say-hello-workflow") })
        #expect(Array(unknown[2...6]) == [.integer(1), .integer(0), .integer(0), .integer(0), .null])
        #expect(unknown[7] == .real(25.163))
        let known = try #require(result.rows.first { $0[1] == .text("build-test-deploy") })
        #expect(Array(known[2...6]) == [.integer(1), .integer(1), .integer(0), .integer(0), .real(1)])
    }

    @Test func flakyJobsSucceededAndFailedOnTheSameRevision() async throws {
        let store = try await fixtureArchive()
        let result = try report { try store.reader.flakyReport(filter: RunFilter(), into: &$0) }
        #expect(
            result.columns == [
                "project", "workflow", "job", "flaky_revisions", "revisions", "reruns", "failed_runs", "failed_time_s", "last_flaky_failure_at",
            ]
        )
        // "test" revisions: rev0 = runs 0,4,8 (success, canceled, success): not flaky;
        // rev1 = 1,5,9 (success x3); rev2 = 2,6,10 (failed, failed, error): never succeeded;
        // rev3 = 3,7 (success, success). So nothing is flaky yet.
        #expect(result.rows.isEmpty)

        _ = try await store.receive(
            Fixtures.jobCompleted(
                id: "rerun",
                happenedAt: "2024-06-05T00:00:00Z",
                jobID: "job-rerun",
                number: 99,
                name: "test",
                status: "success",
                startedAt: "2024-06-04T23:59:00Z",
                stoppedAt: "2024-06-05T00:00:00Z",
                workflowID: "wf-rerun",
                workflowName: "build",
                pipeline: Fixtures.githubPipeline(id: "pl-rev2", revision: "rev2")
            )
        )
        let flaky = try report { try store.reader.flakyReport(filter: RunFilter(), into: &$0) }
        // rev2 now has three failures and a success: one flaky revision, three reruns,
        // failed runs of 20 + 60 + 100 seconds, the last of them at 10h.
        #expect(
            flaky.rows == [
                [
                    .text("gh/acme/widgets"), .text("build"), .text("test"), .integer(1), .integer(4), .integer(3), .integer(3), .real(180),
                    .text("2024-06-03T10:00:00.000Z"),
                ]
            ]
        )
    }

    @Test func failuresReportCountsRatesAndTheLastFailure() async throws {
        let store = try await fixtureArchive()
        let result = try report { try store.reader.failureReport(filter: RunFilter(), into: &$0) }
        #expect(result.rows.count == 1, "only jobs that failed")
        let row = result.rows[0]
        #expect(Array(row[0...6]) == [.text("gh/acme/widgets"), .text("build"), .text("test"), .integer(11), .integer(3), .integer(1), .real(0.3)])
        #expect(row[7] == .text("2024-06-03T10:00:00.000Z"), "the error at 10h is the last failure")
        #expect(row[8] == .text("main") && row[9] == .text("rev2"))
        #expect(row[10] == .text("https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/wf-10/jobs/10"))
    }

    @Test func slowestListsTheLongestRunsFirst() async throws {
        let store = try await fixtureArchive()
        let result = try report { try store.reader.slowestReport(filter: RunFilter(), limit: 3, into: &$0) }
        #expect(result.rows.map { $0[5] } == [.real(100), .real(90), .real(70.25)])
        #expect(result.rows.first?[10] == .text("https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/wf-10/jobs/10"))
        let all = try report { try store.reader.slowestReport(filter: RunFilter(), limit: 100, into: &$0) }
        #expect(all.rows.count == fixtureRuns.compactMap(\.duration).count, "runs without a duration are left out")
    }

    @Test func exportsStreamEveryColumnOfTheViewInOrder() async throws {
        let store = try await fixtureArchive()
        let jobs = try report { try store.reader.export(.jobs, filter: RunFilter(job: "test"), into: &$0) }
        let view = try report { try store.reader.query("SELECT * FROM job_runs WHERE job_name = 'test' ORDER BY stopped_at, job_id", into: &$0) }
        #expect(jobs.columns == view.columns)
        #expect(jobs.rows == view.rows)
        #expect(jobs.rows.count == 11)
        // One test result each for the deploy job and a test job, so every source has rows.
        for name in ["deploy", "test"] {
            let jobID = try #require(try store.reader.texts("SELECT id FROM jobs WHERE name = '\(name)' ORDER BY id LIMIT 1").first)
            try await store.store(
                JobEnrichment(jobID: jobID, outcome: .enriched(JobDetails(jobID: jobID), tests: [TestResult(name: name)])),
                dequeuing: nil
            )
        }
        for source in RunSource.allCases {
            let all = try report { try store.reader.export(source, filter: RunFilter(), into: &$0) }
            let none = try report { try store.reader.export(source, filter: RunFilter(projects: ["gh/none/none"]), into: &$0) }
            #expect(!all.rows.isEmpty && none.rows.isEmpty, "\(source)")
            let byJob = try report { try store.reader.export(source, filter: RunFilter(job: "deploy"), into: &$0) }
            #expect(byJob.rows.count == 1, "\(source) filtered by a job name")
        }
    }
}

/// `report regressions` over runs made to be worse, better, stable and too few.
@Suite struct RegressionReportTests {
    @Test func jobsSlowerOrFailingMoreRecentlyAreListedWorstFirst() async throws {
        let (store, _) = try makeStore()
        let end = Timestamp(iso8601: "2024-06-30T00:00:00Z")!
        var number = 0
        /// A run `daysAgo` before the end, of `seconds`, passed or failed.
        func add(_ job: String, daysAgo: Double, seconds: Double, failed: Bool = false) async throws {
            number += 1
            let stopped = Timestamp(microseconds: end.microseconds - Int64(daysAgo * 86_400_000_000))
            let started = Timestamp(microseconds: stopped.microseconds - Int64(seconds * 1_000_000))
            let body = Fixtures.jobCompleted(
                id: "e\(number)",
                happenedAt: stopped.iso8601,
                jobID: "j\(number)",
                number: number,
                name: job,
                status: failed ? "failed" : "success",
                startedAt: started.iso8601,
                stoppedAt: stopped.iso8601
            )
            _ = try await store.receive(body)
        }
        for day in stride(from: 30.0, to: 8, by: -2) {  // 11 baseline runs each
            try await add("slower", daysAgo: day, seconds: 100)
            try await add("flakier", daysAgo: day, seconds: 50, failed: day == 30)
            try await add("steady", daysAgo: day, seconds: 60)
            try await add("rare", daysAgo: day, seconds: 10)
        }
        for day in [6.0, 4, 2, 1] {  // 4 recent runs each, but only 2 of rare
            try await add("slower", daysAgo: day, seconds: 150)
            try await add("flakier", daysAgo: day, seconds: 50, failed: day <= 2)
            try await add("steady", daysAgo: day, seconds: 62)
            if day <= 2 { try await add("rare", daysAgo: day, seconds: 100) }
        }
        try await add("steady", daysAgo: 0, seconds: 60)  // the newest event ends the window
        var rows = RowCollector()
        try store.reader.regressionReport(filter: RunFilter(), into: &rows)
        #expect(rows.columns == ArchiveReader.regressionColumns)
        #expect(
            rows.rows == [
                // failure rate 1/11 = 0.0909 before, 2/4 = 0.5 recent: score 4 × 0.4091.
                [.text("gh/acme/widgets"), .text("flakier"), .integer(11), .integer(4), .real(50), .real(50), .real(0), .real(0.0909), .real(0.5)],
                [.text("gh/acme/widgets"), .text("slower"), .integer(11), .integer(4), .real(100), .real(150), .real(0.5), .real(0), .real(0)],
            ]
        )
        var narrow = RowCollector()
        try store.reader.regressionReport(filter: RunFilter(job: "slower"), recentDays: 3, baselineDays: 30, into: &narrow)
        #expect(narrow.rows.isEmpty, "2 recent runs of slower in 3 days: too few")
    }
}

/// `report failures` against the SQL it replaced, over random runs of several jobs.
@Suite struct FailureReportTests {
    /// GROUP BY with SQLite's bare columns: the last failure's branch, revision and link come
    /// from the row where the query's only max() is reached.
    static let reference = """
        SELECT project_slug AS project, workflow_name AS workflow, job_name AS job, count(*) AS runs,
               sum(job_status IN ('failed', 'error', 'infrastructure_fail', 'timedout', 'unauthorized', 'terminated-unknown')) AS failed,
               sum(job_status = 'canceled') AS canceled,
               round(CAST(sum(job_status IN ('failed', 'error', 'infrastructure_fail', 'timedout', 'unauthorized', 'terminated-unknown')) AS REAL)
                   / nullif(sum(job_status IN ('failed', 'error', 'infrastructure_fail', 'timedout', 'unauthorized', 'terminated-unknown'))
                   + sum(job_status = 'success'), 0), 4) AS failure_rate,
               max(CASE WHEN job_status IN ('failed', 'error', 'infrastructure_fail', 'timedout', 'unauthorized', 'terminated-unknown')
                   THEN stopped_at END) AS last_failed_at,
               branch AS last_failure_branch, revision AS last_failure_revision, job_url AS last_failure_url
        FROM job_runs GROUP BY project_slug, workflow_name, job_name
        HAVING failed > 0 ORDER BY failed DESC, failure_rate DESC, project, workflow, job
        """

    @Test func agreesWithTheSQLItReplaced() async throws {
        let (store, _) = try makeStore()
        var generator = SeededGenerator(seed: 18)
        let statuses = ["success", "success", "success", "failed", "error", "canceled", "timedout"]
        for index in 0..<90 {
            let stopped = Timestamp(microseconds: Timestamp(iso8601: "2024-06-03T00:00:00Z")!.microseconds + Int64(index) * 60_000_000)
            let body = Fixtures.jobCompleted(
                id: "e\(index)",
                happenedAt: stopped.iso8601,
                jobID: "j\(index)",
                number: index,
                name: ["lint", "test", "deploy"][index % 3],
                status: statuses[Int.random(in: 0..<statuses.count, using: &generator)],
                stoppedAt: stopped.iso8601,
                workflowID: "wf-\(index)",
                workflowName: index % 2 == 0 ? "build" : "nightly",
                pipeline: Fixtures.githubPipeline(id: "pl-\(index % 7)", branch: index % 7 == 0 ? "release" : "main", revision: "rev\(index % 7)")
            )
            _ = try await store.receive(body)
        }
        var expected = RowCollector()
        try store.reader.query(Self.reference, into: &expected)
        var actual = RowCollector()
        try store.reader.failureReport(filter: RunFilter(), into: &actual)
        #expect(actual.columns == expected.columns)
        #expect(actual.rows == expected.rows)
        #expect(actual.rows.count >= 5)
    }
}
