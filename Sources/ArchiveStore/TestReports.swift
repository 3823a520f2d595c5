import ArchiveModel
import Foundation

/// What `report tests` groups test results by: a test is its project, classname and name.
public enum TestGrouping: String, Sendable, CaseIterable {
    case test
    case `class`
    case file

    var keys: [(name: String, column: String)] {
        switch self {
        case .test: return [("project", "project_slug"), ("classname", "classname"), ("test", "test_name")]
        case .class: return [("project", "project_slug"), ("classname", "classname")]
        case .file: return [("project", "project_slug"), ("file", "file")]
        }
    }
}

extension ArchiveReader {
    /// Per test, class or file: runs, passed, failed, skipped, failure_rate (failed / (passed +
    /// failed)), run time mean and nearest-rank p50/p95, and the last failure's time and job link.
    /// Most failures first, then the highest failure rate, then by key.
    ///
    /// A test's run time is one result's; a class's or file's is what its tests took together in
    /// one job, which is what splitting tests by timing balances. `--by class` and `--by file` also
    /// count the distinct tests they hold.
    ///
    /// The results are read in key order, so only one group's run times are held at a time.
    public func testReport(by grouping: TestGrouping, filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.tests.whereClause(filter)
        let keyColumns = grouping.keys.map(\.column)
        let sql = """
            SELECT \(keyColumns.joined(separator: ", ")), job_id, classname, test_name, result, run_time_seconds, stopped_at, job_url
            FROM test_runs \(whereSQL) ORDER BY \(keyColumns.joined(separator: ", ")), job_id
            """
        let keyCount = keyColumns.count
        let perJob = grouping != .test
        var rows: [(key: [SQLValue], group: TestAccumulator)] = []
        var current: (key: [SQLValue], group: TestAccumulator)?
        try stream(
            sql,
            arguments: arguments,
            columns: { _ in },
            row: { row in
                let key = Array(row[0..<keyCount])
                if current?.key != key {
                    if let finished = current { rows.append((finished.key, finished.group.finished())) }
                    current = (key, TestAccumulator(timesPerJob: perJob))
                }
                current!.group.add(
                    job: row[keyCount],
                    test: perJob ? [row[keyCount + 1], row[keyCount + 2]] : [],
                    outcome: TestOutcome(result: row[keyCount + 3].text),
                    runTime: row[keyCount + 4].number,
                    stoppedAt: row[keyCount + 5].text,
                    url: row[keyCount + 6]
                )
            }
        )
        if let finished = current { rows.append((finished.key, finished.group.finished())) }
        rows.sort { left, right in
            if left.group.failed != right.group.failed { return left.group.failed > right.group.failed }
            let (leftRate, rightRate) = (left.group.failureRate ?? -1, right.group.failureRate ?? -1)
            if leftRate != rightRate { return leftRate > rightRate }
            return SQLValue.precedes(left.key, right.key)
        }
        try sink.start(
            columns: grouping.keys.map(\.name) + (perJob ? ["tests"] : [])
                + ["runs", "passed", "failed", "skipped", "failure_rate", "mean_s", "p50_s", "p95_s", "last_failed_at", "last_failure_url"]
        )
        for (key, group) in rows {
            try sink.write(key + group.figures(countingTests: perJob))
        }
    }
}

/// The figures of one group of test results.
struct TestAccumulator {
    let timesPerJob: Bool
    var runs = 0
    var passed = 0
    var failed = 0
    var skipped = 0
    var tests: Set<[SQLValue]> = []
    var times: [Double] = []
    var lastFailure: (at: String, url: SQLValue)?
    /// The job being read and its tests' total time so far, when times are per job.
    private var job: SQLValue?
    private var jobTime: Double?

    init(timesPerJob: Bool) {
        self.timesPerJob = timesPerJob
    }

    mutating func add(job: SQLValue, test: [SQLValue], outcome: TestOutcome, runTime: Double?, stoppedAt: String?, url: SQLValue) {
        runs += 1
        switch outcome {
        case .passed: passed += 1
        case .failed:
            failed += 1
            if let stoppedAt, stoppedAt > (lastFailure?.at ?? "") { lastFailure = (stoppedAt, url) }
        case .skipped: skipped += 1
        case .other: break
        }
        if timesPerJob {
            tests.insert(test)
            if job != self.job { closeJob() }
            self.job = job
            if let runTime { jobTime = (jobTime ?? 0) + runTime }
        } else if let runTime {
            times.append(runTime)
        }
    }

    private mutating func closeJob() {
        if let jobTime { times.append(jobTime) }
        jobTime = nil
    }

    /// The group once its last result was added.
    consuming func finished() -> TestAccumulator {
        closeJob()
        return self
    }

    var failureRate: Double? {
        passed + failed > 0 ? rounded(Double(failed) / Double(passed + failed), places: 4) : nil
    }

    func figures(countingTests: Bool) -> [SQLValue] {
        var values: [SQLValue] = countingTests ? [.integer(Int64(tests.count))] : []
        values += [runs, passed, failed, skipped].map { .integer(Int64($0)) }
        values.append(failureRate.map(SQLValue.real) ?? .null)
        if times.isEmpty {
            values += [.null, .null, .null]
        } else {
            let sample = Sample(times)
            values += [.real(sample.mean)] + [50.0, 95].map { .real(rounded(sample.percentile($0), places: 3)) }
        }
        return values + [SQLValue(lastFailure?.at), lastFailure?.url ?? .null]
    }
}

extension ArchiveReader {
    /// Tests that both passed and failed on the same revision in the same workflow and job: a
    /// rerun made them pass without a change to the code. A test that fails in one job and
    /// passes in another on the same revision (say, only on macOS) is broken there, not flaky.
    ///
    /// Per test (project, classname, name): flaky_revisions, revisions it passed or failed on,
    /// flaky_rate (their ratio), failures on its flaky revisions, the first flaky failure's time,
    /// and the last one's time, job, first line of message and link. Most flaky revisions first,
    /// then most failures, then the most recent. Results of pipelines without a revision are
    /// not read.
    public func flakyTestReport(filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.tests.whereClause(filter)
        let failed = TestOutcome.failureCondition("result")
        let sql = """
            SELECT project_slug, classname, test_name, revision, workflow_name, job_name, result, stopped_at, job_url,
                   CASE WHEN \(failed) THEN message END
            FROM test_runs \(whereSQL) \(whereSQL.isEmpty ? "WHERE" : "AND") revision IS NOT NULL
            ORDER BY project_slug, classname, test_name, revision, workflow_name, job_name
            """
        var flaky: [FlakyTest] = []
        var current: FlakyTest?
        try stream(
            sql,
            arguments: arguments,
            columns: { _ in },
            row: { row in
                let test = Array(row[0..<3])
                if current?.test != test {
                    if let finished = current?.finished(), finished.flakyRevisions > 0 { flaky.append(finished) }
                    current = FlakyTest(test: test)
                }
                current!.add(
                    run: Array(row[3..<6]),
                    outcome: TestOutcome(result: row[6].text),
                    stoppedAt: row[7].text,
                    failure: FlakyTest.Failure(at: row[7].text ?? "", job: row[5], url: row[8], message: row[9].text)
                )
            }
        )
        if let finished = current?.finished(), finished.flakyRevisions > 0 { flaky.append(finished) }
        flaky.sort { left, right in
            if left.flakyRevisions != right.flakyRevisions { return left.flakyRevisions > right.flakyRevisions }
            if left.failures != right.failures { return left.failures > right.failures }
            let (leftLast, rightLast) = (left.lastFlaky?.at ?? "", right.lastFlaky?.at ?? "")
            if leftLast != rightLast { return leftLast > rightLast }
            return SQLValue.precedes(left.test, right.test)
        }
        try sink.start(columns: [
            "project", "classname", "test", "flaky_revisions", "revisions", "flaky_rate", "failures", "first_flaky_at",
            "last_flaky_failure_at", "last_flaky_failure_job", "last_flaky_failure_message", "last_flaky_failure_url",
        ])
        for test in flaky {
            try sink.write(test.test + test.figures())
        }
    }
}

/// One test's runs, read in (revision, workflow, job) order, judged one such run group at a time.
struct FlakyTest {
    struct Failure {
        var at: String
        var job: SQLValue
        var url: SQLValue
        var message: String?
    }

    let test: [SQLValue]
    var revisions = 0
    var flakyRevisions = 0
    var failures = 0
    var firstFlakyAt: String?
    var lastFlaky: Failure?

    /// The (revision, workflow, job) being read: what passed and failed in it.
    private var run: [SQLValue]?
    private var passed = 0
    private var failed = 0
    private var firstFailedAt: String?
    private var lastFailure: Failure?
    /// Whether the revision being read had a pass or failure, and a flaky run group.
    private var revisionRan = false
    private var revisionFlaky = false

    init(test: [SQLValue]) {
        self.test = test
    }

    mutating func add(run: [SQLValue], outcome: TestOutcome, stoppedAt: String?, failure: @autoclosure () -> Failure) {
        if run != self.run {
            closeRun()
            if run.first != self.run?.first { closeRevision() }
            self.run = run
        }
        switch outcome {
        case .passed:
            passed += 1
        case .failed:
            failed += 1
            let at = stoppedAt ?? ""
            if at < (firstFailedAt ?? "\u{10FFFF}") { firstFailedAt = at }
            if at >= (lastFailure?.at ?? "") { lastFailure = failure() }
        case .skipped, .other:
            break
        }
    }

    private mutating func closeRun() {
        revisionRan = revisionRan || passed + failed > 0
        if passed > 0, failed > 0 {
            revisionFlaky = true
            failures += failed
            if let firstFailedAt, firstFailedAt < (firstFlakyAt ?? "\u{10FFFF}") { self.firstFlakyAt = firstFailedAt }
            if let lastFailure, lastFailure.at >= (lastFlaky?.at ?? "") { lastFlaky = lastFailure }
        }
        (passed, failed, firstFailedAt, lastFailure) = (0, 0, nil, nil)
    }

    private mutating func closeRevision() {
        if revisionRan { revisions += 1 }
        if revisionFlaky { flakyRevisions += 1 }
        (revisionRan, revisionFlaky) = (false, false)
    }

    consuming func finished() -> FlakyTest {
        closeRun()
        closeRevision()
        return self
    }

    func figures() -> [SQLValue] {
        let rate: SQLValue = revisions > 0 ? .real(rounded(Double(flakyRevisions) / Double(revisions), places: 4)) : .null
        return [
            .integer(Int64(flakyRevisions)), .integer(Int64(revisions)), rate, .integer(Int64(failures)), SQLValue(firstFlakyAt),
            SQLValue(lastFlaky?.at), lastFlaky?.job ?? .null, SQLValue(lastFlaky?.message.map(Self.firstLine)), lastFlaky?.url ?? .null,
        ]
    }

    /// A failure message's first non-empty line, at most 200 characters: enough to tell a timeout
    /// from an assertion in a table; the whole message is in `test_runs`.
    static func firstLine(_ message: String) -> String {
        let line = message.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
        return line.count > 200 ? line.prefix(199) + "…" : line
    }
}
