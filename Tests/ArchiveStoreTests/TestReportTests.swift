import ArchiveModel
import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveStore

/// One stored test result of the random archive, with what its job says about it.
private struct StoredResult {
    var classname: String?
    var name: String
    var file: String?
    var result: String
    var runTime: Double?
    var message: String?
    var revision: String
    var workflowName: String
    var job: String
    var jobID: String
    var stoppedAt: String
    var url: String
}

/// `report tests` and `report flaky-tests` against computations of their own, written the plain
/// way (dictionaries, filters) over a random archive: revisions rerun up to twice, jobs on two
/// platforms, a test broken only on macOS, retries within a job, skips, errors, unknown run times.
@Suite struct TestReportTests {
    private static let tests: [(classname: String?, name: String, file: String?)] = [
        ("Widgets", "saves", "spec/widgets.rb"), ("Widgets", "loads", "spec/widgets.rb"), ("Gadgets", "spins", "spec/gadgets.rb"),
        ("Gadgets", "stops", "spec/gadgets.rb"), ("Gadgets", "macOnly", "spec/gadgets.rb"), (nil, "orphan", nil),
    ]

    /// Builds the archive and returns every result it stored.
    private static func randomArchive(seed: UInt64) async throws -> (ArchiveStore, [StoredResult]) {
        let (store, _) = try makeStore()
        var generator = SeededGenerator(seed: seed)
        var stored: [StoredResult] = []
        var number = 0
        let origin = Timestamp(iso8601: "2024-06-03T00:00:00Z")!
        for revisionIndex in 0..<8 {
            let revision = "rev\(revisionIndex)"
            for attempt in 0...Int.random(in: 0...2, using: &generator) {
                let workflowID = "wf-\(revisionIndex)-\(attempt)"
                for job in ["test", "test-mac"] where job == "test" || revisionIndex % 2 == 0 {
                    number += 1
                    let stopped = Timestamp(microseconds: origin.microseconds + Int64(number) * 60_000_000).iso8601
                    _ = try await store.receive(
                        Fixtures.jobCompleted(
                            id: "e\(number)",
                            happenedAt: stopped,
                            jobID: "j\(number)",
                            number: number,
                            name: job,
                            stoppedAt: stopped,
                            workflowID: workflowID,
                            workflowName: "build",
                            pipeline: Fixtures.githubPipeline(id: "pl-\(revision)", revision: revision)
                        )
                    )
                    var results: [TestResult] = []
                    for test in tests {
                        var outcomes: [String]
                        if test.name == "macOnly" {
                            outcomes = [job == "test-mac" ? "failure" : "success"]
                        } else {
                            let draw = Int.random(in: 0..<100, using: &generator)
                            outcomes = [draw < 65 ? "success" : draw < 80 ? "failure" : draw < 85 ? "error" : draw < 95 ? "skipped" : "flaky-retry"]
                            if outcomes == ["flaky-retry"] { outcomes = ["failure", "success"] }  // retried within the job
                        }
                        for outcome in outcomes {
                            let runTime: Double? =
                                Int.random(in: 0..<10, using: &generator) == 0 ? nil : Double(Int.random(in: 1...3000, using: &generator)) / 1000
                            let message =
                                outcome == "success" || outcome == "skipped" ? nil : "\n  expected \(test.name) in job \(number)\n  at line 3"
                            results.append(
                                TestResult(
                                    classname: test.classname,
                                    name: test.name,
                                    file: test.file,
                                    result: outcome,
                                    runTimeSeconds: runTime,
                                    message: message
                                )
                            )
                            stored.append(
                                StoredResult(
                                    classname: test.classname,
                                    name: test.name,
                                    file: test.file,
                                    result: outcome,
                                    runTime: runTime,
                                    message: message,
                                    revision: revision,
                                    workflowName: "build",
                                    job: job,
                                    jobID: "j\(number)",
                                    stoppedAt: stopped,
                                    url: "https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/\(workflowID)/jobs/\(number)"
                                )
                            )
                        }
                    }
                    try await store.store(
                        JobEnrichment(jobID: "j\(number)", outcome: .enriched(JobDetails(jobID: "j\(number)"), tests: results)),
                        dequeuing: nil
                    )
                }
            }
        }
        return (store, stored)
    }

    private static func nearestRank(_ sorted: [Double], _ p: Double) -> Double {
        sorted[Int(ceil(p / 100 * Double(sorted.count))) - 1]
    }

    private static func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// Rows equal, reals within a millisecond (sums in another order may differ in the last bit).
    private static func expectRows(_ actual: [[SQLValue]], _ expected: [[SQLValue]], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, sourceLocation: sourceLocation)
        for (row, wanted) in zip(actual, expected) {
            let same =
                row.count == wanted.count
                && zip(row, wanted).allSatisfy { pair in
                    if case .real(let left) = pair.0, case .real(let right) = pair.1 { return abs(left - right) < 0.0015 }
                    return pair.0 == pair.1
                }
            #expect(same, "\(row) != \(wanted)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [TestGrouping.test, .class, .file])
    func testsReportAgreesWithAnIndependentComputation(grouping: TestGrouping) async throws {
        let (store, stored) = try await Self.randomArchive(seed: 1616)
        let key: (StoredResult) -> [SQLValue] = { result in
            switch grouping {
            case .test: [.text("gh/acme/widgets"), SQLValue(result.classname), .text(result.name)]
            case .class: [.text("gh/acme/widgets"), SQLValue(result.classname)]
            case .file: [.text("gh/acme/widgets"), SQLValue(result.file)]
            }
        }
        var expected: [(key: [SQLValue], failed: Int, rate: Double?, row: [SQLValue])] = []
        for (groupKey, results) in Dictionary(grouping: stored, by: key) {
            let passed = results.filter { $0.result == "success" }.count
            let failed = results.filter { ["failure", "error"].contains($0.result) }.count
            let skipped = results.filter { $0.result == "skipped" }.count
            let rate = passed + failed == 0 ? nil : (Double(failed) / Double(passed + failed) * 10000).rounded() / 10000
            // A test's time is each result's; a class's or file's is its tests' sum per job.
            let times: [Double] =
                grouping == .test
                ? results.compactMap(\.runTime)
                : Dictionary(grouping: results, by: \.jobID).values.compactMap { inJob in
                    let known = inJob.compactMap(\.runTime)
                    return known.isEmpty ? nil : known.reduce(0, +)
                }
            let sorted = times.sorted()
            let lastFailure = results.filter { ["failure", "error"].contains($0.result) }.max { $0.stoppedAt < $1.stoppedAt }
            var row = groupKey
            if grouping != .test { row.append(.integer(Int64(Set(results.map { "\($0.classname ?? "")/\($0.name)" }).count))) }
            row += [results.count, passed, failed, skipped].map { .integer(Int64($0)) }
            row.append(rate.map(SQLValue.real) ?? .null)
            row +=
                sorted.isEmpty
                ? [.null, .null, .null]
                : [
                    .real(Self.round3(sorted.reduce(0, +) / Double(sorted.count))), .real(Self.nearestRank(sorted, 50)),
                    .real(Self.nearestRank(sorted, 95)),
                ]
            row += [SQLValue(lastFailure?.stoppedAt), SQLValue(lastFailure?.url)]
            expected.append((groupKey, failed, rate, row))
        }
        expected.sort { left, right in
            if left.failed != right.failed { return left.failed > right.failed }
            if (left.rate ?? -1) != (right.rate ?? -1) { return (left.rate ?? -1) > (right.rate ?? -1) }
            return SQLValue.precedes(left.key, right.key)
        }
        var collector = RowCollector()
        try store.reader.testReport(by: grouping, filter: RunFilter(), into: &collector)
        let keyNames = grouping == .test ? ["project", "classname", "test"] : ["project", grouping == .class ? "classname" : "file"]
        #expect(
            collector.columns
                == keyNames + (grouping == .test ? [] : ["tests"]) + [
                    "runs", "passed", "failed", "skipped", "failure_rate", "mean_s", "p50_s", "p95_s", "last_failed_at", "last_failure_url",
                ]
        )
        Self.expectRows(collector.rows, expected.map(\.row))
        #expect(expected.count == (grouping == .test ? 6 : 3))
    }

    @Test func flakyTestsAgreeWithAnIndependentComputation() async throws {
        let (store, stored) = try await Self.randomArchive(seed: 1617)
        var expected: [(flakyRevisions: Int, failures: Int, last: String, key: [SQLValue], row: [SQLValue])] = []
        for (test, results) in Dictionary(grouping: stored, by: { [SQLValue($0.classname), SQLValue.text($0.name)] }) {
            let counted = results.filter { ["success", "failure", "error"].contains($0.result) }
            let revisions = Set(counted.map(\.revision))
            // A flaky run group: one revision, workflow and job with a pass and a failure.
            let flakyGroups = Dictionary(grouping: counted) { "\($0.revision) \($0.workflowName) \($0.job)" }.values.filter { group in
                group.contains { $0.result == "success" } && group.contains { $0.result != "success" }
            }
            guard !flakyGroups.isEmpty else { continue }
            let flakyFailures = flakyGroups.joined().filter { $0.result != "success" }
            let first = flakyFailures.map(\.stoppedAt).min()!
            let last = flakyFailures.max { $0.stoppedAt < $1.stoppedAt }!
            let flakyRevisions = Set(flakyGroups.map { $0[0].revision }).count
            let row: [SQLValue] =
                [.text("gh/acme/widgets")] + test + [
                    .integer(Int64(flakyRevisions)), .integer(Int64(revisions.count)),
                    .real((Double(flakyRevisions) / Double(revisions.count) * 10000).rounded() / 10000), .integer(Int64(flakyFailures.count)),
                    .text(first), .text(last.stoppedAt), .text(last.job), .text("expected \(last.name) in job \(last.jobID.dropFirst())"),
                    .text(last.url),
                ]
            expected.append((flakyRevisions, flakyFailures.count, last.stoppedAt, [.text("gh/acme/widgets")] + test, row))
        }
        expected.sort { left, right in
            if left.flakyRevisions != right.flakyRevisions { return left.flakyRevisions > right.flakyRevisions }
            if left.failures != right.failures { return left.failures > right.failures }
            if left.last != right.last { return left.last > right.last }
            return SQLValue.precedes(left.key, right.key)
        }
        var collector = RowCollector()
        try store.reader.flakyTestReport(filter: RunFilter(), into: &collector)
        #expect(
            collector.columns == [
                "project", "classname", "test", "flaky_revisions", "revisions", "flaky_rate", "failures", "first_flaky_at",
                "last_flaky_failure_at", "last_flaky_failure_job", "last_flaky_failure_message", "last_flaky_failure_url",
            ]
        )
        Self.expectRows(collector.rows, expected.map(\.row))
        #expect(!collector.rows.contains { $0[2] == .text("macOnly") }, "failing only on macOS is broken, not flaky")
        #expect(expected.count >= 3, "the random archive has flaky tests to find")
    }

    /// README's cookbook query for flaky tests counts what the report counts.
    @Test func theCookbooksFlakyTestQueryAgreesWithTheReport() async throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: "-- Tests that failed and passed on the same revision"))
        let sql = String(text[start.lowerBound...].prefix { $0 != "`" })
        let (store, _) = try await Self.randomArchive(seed: 1619)
        var cookbook = RowCollector()
        try store.reader.query(sql, into: &cookbook)
        var report = RowCollector()
        try store.reader.flakyTestReport(filter: RunFilter(), into: &report)
        #expect(!report.rows.isEmpty)
        #expect(Set(cookbook.rows) == Set(report.rows.map { Array($0[0..<4]) + [$0[6]] }))
    }

    @Test func filtersNarrowTheTestReports() async throws {
        let (store, stored) = try await Self.randomArchive(seed: 1618)
        var mac = RowCollector()
        try store.reader.testReport(by: .test, filter: RunFilter(job: "test-mac"), into: &mac)
        let macRuns = stored.filter { $0.job == "test-mac" && $0.name == "macOnly" }.count
        #expect(mac.rows.first { $0[2] == .text("macOnly") }?[3] == .integer(Int64(macRuns)))
        var window = RowCollector()
        let until = stored.map(\.stoppedAt).sorted()[stored.count / 2]
        try store.reader.testReport(by: .class, filter: RunFilter(until: Timestamp(iso8601: until)), into: &window)
        let runs = window.rows.reduce(Int64(0)) { total, row in if case .integer(let runs) = row[3] { total + runs } else { total } }
        #expect(runs == Int64(stored.filter { $0.stoppedAt < until }.count))
        var nothing = RowCollector()
        try store.reader.flakyTestReport(filter: RunFilter(projects: ["gh/acme/other"]), into: &nothing)
        #expect(nothing.rows.isEmpty && nothing.columns.count == 12)
    }

    @Test func aFailureMessageIsShownByItsFirstLine() {
        #expect(FlakyTest.firstLine("\n\n   Timeout after 30s  \n  at foo") == "Timeout after 30s")
        #expect(FlakyTest.firstLine("") == "")
        let long = FlakyTest.firstLine(String(repeating: "x", count: 500))
        #expect(long.count == 200 && long.hasSuffix("…"))
    }
}
