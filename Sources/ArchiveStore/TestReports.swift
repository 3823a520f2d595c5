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
    /// The results are read in key order, so only one group's run times are held at a time, and
    /// narrow: a failure's time comes along, its link is looked up once per group at the end.
    public func testReport(by grouping: TestGrouping, filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.tests.whereClause(filter)
        let keyColumns = grouping.keys.map(\.column)
        let sql = """
            SELECT \(keyColumns.joined(separator: ", ")), job_id, classname, test_name, result, run_time_seconds,
                   CASE WHEN \(TestOutcome.failureCondition("result")) THEN stopped_at END
            FROM test_runs \(whereSQL) ORDER BY \(keyColumns.joined(separator: ", ")), job_id
            """
        let keyCount = keyColumns.count
        let perJob = grouping != .test
        var rows: [(key: [SQLValue], group: TestAccumulator)] = []
        try reading { session in
            var current: (key: [SQLValue], group: TestAccumulator)?
            try session.stream(
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
                        failedAt: row[keyCount + 5].text
                    )
                }
            )
            if let finished = current { rows.append((finished.key, finished.group.finished())) }
            for index in rows.indices {
                guard let job = rows[index].group.lastFailure?.job else { continue }
                rows[index].group.lastFailureURL =
                    try session.firstRow("SELECT job_url FROM job_runs WHERE job_id = ?", arguments: [job])?[0] ?? .null
            }
        }
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
    var lastFailure: (at: String, job: SQLValue)?
    var lastFailureURL: SQLValue = .null
    /// The job being read and its tests' total time so far, when times are per job.
    private var job: SQLValue?
    private var jobTime: Double?

    init(timesPerJob: Bool) {
        self.timesPerJob = timesPerJob
    }

    /// One result; `failedAt` is its job's `stopped_at` when it failed.
    mutating func add(job: SQLValue, test: [SQLValue], outcome: TestOutcome, runTime: Double?, failedAt: String?) {
        runs += 1
        switch outcome {
        case .passed: passed += 1
        case .failed:
            failed += 1
            if let failedAt, failedAt > (lastFailure?.at ?? "") { lastFailure = (failedAt, job) }
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
        return values + [SQLValue(lastFailure?.at), lastFailureURL]
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
    /// not read. Rows are read narrow, in key order; the last flaky failure's job, message and
    /// link are looked up once per flaky test at the end.
    public func flakyTestReport(filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.tests.whereClause(filter)
        let failed = TestOutcome.failureCondition("result")
        let sql = """
            SELECT project_slug, classname, test_name, revision, workflow_name, job_name, result,
                   CASE WHEN \(failed) THEN stopped_at END, CASE WHEN \(failed) THEN job_id END, CASE WHEN \(failed) THEN position END
            FROM test_runs \(whereSQL) \(whereSQL.isEmpty ? "WHERE" : "AND") revision IS NOT NULL
            ORDER BY project_slug, classname, test_name, revision, workflow_name, job_name
            """
        var flaky: [FlakyTest] = []
        try reading { session in
            var current: FlakyTest?
            try session.stream(
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
                        failure: row[7].text.map { FlakyTest.Failure(at: $0, job: row[8], position: row[9]) }
                    )
                }
            )
            if let finished = current?.finished(), finished.flakyRevisions > 0 { flaky.append(finished) }
            for index in flaky.indices {
                guard let last = flaky[index].lastFlaky else { continue }
                let found = try session.firstRow(
                    "SELECT job_name, message, job_url FROM test_runs WHERE job_id = ? AND position = ?",
                    arguments: [last.job, last.position]
                )
                if let found { flaky[index].lastFlakyDetails = (job: found[0], message: found[1].text, url: found[2]) }
            }
        }
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
    /// A failure: its job's `stopped_at`, and where its row is.
    struct Failure {
        var at: String
        var job: SQLValue
        var position: SQLValue
    }

    let test: [SQLValue]
    var revisions = 0
    var flakyRevisions = 0
    var failures = 0
    var firstFlakyAt: String?
    var lastFlaky: Failure?
    /// The last flaky failure's job name, message and link, looked up once the test is judged.
    var lastFlakyDetails: (job: SQLValue, message: String?, url: SQLValue)?

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

    /// One result; `failure` says when and where, for a failed one.
    mutating func add(run: [SQLValue], outcome: TestOutcome, failure: Failure?) {
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
            guard let failure else { break }
            if failure.at < (firstFailedAt ?? "\u{10FFFF}") { firstFailedAt = failure.at }
            if failure.at >= (lastFailure?.at ?? "") { lastFailure = failure }
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
            SQLValue(lastFlaky?.at), lastFlakyDetails?.job ?? .null, SQLValue(lastFlakyDetails?.message.map(Self.firstLine)),
            lastFlakyDetails?.url ?? .null,
        ]
    }

    /// A failure message's first non-empty line, at most 200 characters: enough to tell a timeout
    /// from an assertion in a table; the whole message is in `test_runs`.
    static func firstLine(_ message: String) -> String {
        let line = message.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
        return line.count > 200 ? line.prefix(199) + "…" : line
    }
}
