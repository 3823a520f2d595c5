import ArchiveModel
import Foundation

/// What `report durations` groups runs by. Jobs are grouped by job name; the other groupings
/// describe whole workflow runs.
public enum DurationGrouping: String, Sendable, CaseIterable {
    case job
    case workflow
    case project
    case branch

    var source: RunSource { self == .job ? .jobs : .workflows }

    /// Output column names and the view columns they come from.
    var keys: [(name: String, column: String)] {
        switch self {
        case .job: return [("project", "project_slug"), ("job", "job_name")]
        case .workflow: return [("project", "project_slug"), ("workflow", "workflow_name")]
        case .project: return [("project", "project_slug")]
        case .branch: return [("project", "project_slug"), ("branch", "branch")]
        }
    }
}

/// The periods of `report trend`: UTC days, or ISO weeks named by their Monday.
public enum TrendPeriod: String, Sendable, CaseIterable {
    case day
    case week

    /// The period a run stopped at `stoppedAt` falls in: its day, or its week's Monday
    /// (`YYYY-MM-DD`); NULL for a run with no (or no readable) stop time.
    func bucket(_ stoppedAt: String?) -> SQLValue {
        guard let stoppedAt else { return .null }
        switch self {
        case .day: return .text(String(stoppedAt.prefix(10)))
        case .week: return UTCDay(prefixOf: stoppedAt).map { .text($0.monday.text) } ?? .null
        }
    }
}

extension ArchiveReader {
    /// The statistics columns of `report durations` and `report trend`, after the key columns.
    public static let durationColumns = [
        "runs", "succeeded", "failed", "canceled", "success_rate", "mean_s", "stddev_s", "min_s",
        "p50_s", "p90_s", "p95_s", "p99_s", "max_s",
    ]

    /// Run counts and duration statistics per group, sorted by key (and period, for a trend).
    ///
    /// Percentiles use the nearest rank over the runs with a known duration: sorted ascending,
    /// the value at 1-based rank ceil(p/100 × n). `stddev_s` is the sample standard deviation
    /// (NULL below two runs); `mean_s` and `stddev_s` are rounded to milliseconds.
    /// `success_rate` is CircleCI's succeeded / (runs − canceled), except that runs whose status
    /// is unknown (a workflow seen only through its jobs' events) or not terminal count in `runs`
    /// and the durations but not in the rate: it is succeeded / (succeeded + failed), rounded to
    /// four decimals, NULL when no run counts.
    public func durationReport(
        by grouping: DurationGrouping,
        every period: TrendPeriod? = nil,
        filter: RunFilter,
        into sink: inout some RowSink
    ) throws {
        let groups = try reading { session in
            try runGroups(
                grouping.source,
                keys: grouping.keys.map(\.column),
                filter: filter,
                bucket: period.map { period in period.bucket },
                rollup: period.map { $0 == .week ? .week : nil } ?? .month,
                in: session
            )
        }
        try sink.start(columns: grouping.keys.map(\.name) + (period == nil ? [] : ["period"]) + Self.durationColumns)
        for key in groups.keys.sorted(by: SQLValue.precedes) {
            try sink.write(key + groups[key]!.statistics())
        }
    }

    /// Jobs that both succeeded and failed on the same revision: how many revisions flaked,
    /// the extra runs spent on them and the time their failed runs took. Sorted by flaky
    /// revisions, most first.
    public func flakyReport(filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.jobs.whereClause(filter)
        let failed = RunStatus.failureCondition("job_status")
        let sql = """
            WITH per_revision AS (
                SELECT project_slug, workflow_name, job_name, revision,
                       count(*) AS runs,
                       sum(job_status = 'success') AS succeeded,
                       sum(\(failed)) AS failed,
                       sum(CASE WHEN \(failed) THEN duration_seconds END) AS failed_seconds,
                       max(CASE WHEN \(failed) THEN stopped_at END) AS last_failed_at
                FROM job_runs \(whereSQL) \(whereSQL.isEmpty ? "WHERE" : "AND") revision IS NOT NULL
                GROUP BY project_slug, workflow_name, job_name, revision
            ),
            flaky AS (
                SELECT *, succeeded > 0 AND failed > 0 AS is_flaky FROM per_revision
            )
            SELECT project_slug AS project, workflow_name AS workflow, job_name AS job,
                   sum(is_flaky) AS flaky_revisions,
                   count(*) AS revisions,
                   sum(CASE WHEN is_flaky THEN runs - 1 ELSE 0 END) AS reruns,
                   sum(CASE WHEN is_flaky THEN failed ELSE 0 END) AS failed_runs,
                   round(coalesce(sum(CASE WHEN is_flaky THEN failed_seconds END), 0), 3) AS failed_time_s,
                   max(CASE WHEN is_flaky THEN last_failed_at END) AS last_flaky_failure_at
            FROM flaky
            GROUP BY project_slug, workflow_name, job_name
            HAVING sum(is_flaky) > 0
            ORDER BY flaky_revisions DESC, project, workflow, job
            """
        try query(sql, arguments: arguments, into: &sink)
    }

    /// Jobs that failed at least once: counts, failure rate (failed / (succeeded + failed), the
    /// complement of `success_rate`) and where the last failure happened. Most failures first.
    ///
    /// Counted from the summaries of job runs where fresh and from narrow rows elsewhere (see
    /// `runGroups`), then one lookup per failing job for the last failure's branch, revision
    /// and link: SQLite's GROUP BY sorted every run with those wide columns, three times slower.
    public func failureReport(filter: RunFilter, into sink: inout some RowSink) throws {
        var rows: [(key: [SQLValue], counts: RunAccumulator, last: [SQLValue])] = []
        try reading { session in
            let groups = try runGroups(.jobs, keys: ["project_slug", "workflow_name", "job_name"], filter: filter, durations: false, in: session)
            for (key, counts) in groups where counts.statuses.failed > 0 {
                var last: [SQLValue] = [.null, .null, .null]
                if let job = counts.lastFailure?.job {
                    last = try session.firstRow("SELECT branch, revision, job_url FROM job_runs WHERE job_id = ?", arguments: [.text(job)]) ?? last
                }
                rows.append((key, counts, last))
            }
        }
        rows.sort { left, right in
            let (leftStatuses, rightStatuses) = (left.counts.statuses, right.counts.statuses)
            if leftStatuses.failed != rightStatuses.failed { return leftStatuses.failed > rightStatuses.failed }
            if leftStatuses.failureRate != rightStatuses.failureRate { return (leftStatuses.failureRate ?? 0) > (rightStatuses.failureRate ?? 0) }
            return SQLValue.precedes(left.key, right.key)
        }
        try sink.start(columns: [
            "project", "workflow", "job", "runs", "failed", "canceled", "failure_rate", "last_failed_at", "last_failure_branch",
            "last_failure_revision", "last_failure_url",
        ])
        for row in rows {
            let statuses = row.counts.statuses
            try sink.write(
                row.key + [statuses.runs, statuses.failed, statuses.canceled].map { .integer(Int64($0)) }
                    + [statuses.failureRate.map(SQLValue.real) ?? .null, SQLValue(row.counts.lastFailure?.at)] + row.last
            )
        }
    }

    /// The `limit` slowest job runs, with links to them in CircleCI.
    public func slowestReport(filter: RunFilter, limit: Int, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.jobs.whereClause(filter)
        let sql = """
            SELECT project_slug AS project, workflow_name AS workflow, job_name AS job, job_number, job_status AS status,
                   duration_seconds, started_at, stopped_at, branch, revision, job_url AS url
            FROM job_runs \(whereSQL) \(whereSQL.isEmpty ? "WHERE" : "AND") duration_seconds IS NOT NULL
            ORDER BY duration_seconds DESC, stopped_at DESC
            LIMIT ?
            """
        try query(sql, arguments: arguments + [.integer(Int64(limit))], into: &sink)
    }

    /// The newest `limit` job or workflow runs the filter selects (only failed ones when
    /// `failedOnly`), newest first: for plotting each run, and lists of recent failures. Columns:
    /// stopped_at, duration_seconds, status, number (the job's, or the pipeline's), branch,
    /// revision, url.
    public func recentRuns(_ source: RunSource, filter: RunFilter, failedOnly: Bool = false, limit: Int, into sink: inout some RowSink) throws {
        precondition(source == .jobs || source == .workflows)
        var (whereSQL, arguments) = source.whereClause(filter)
        let status = source == .jobs ? "job_status" : "workflow_status"
        if failedOnly { whereSQL += (whereSQL.isEmpty ? "WHERE " : " AND ") + RunStatus.failureCondition(status) }
        let number = source == .jobs ? "job_number" : "pipeline_number"
        let url = source == .jobs ? "job_url" : "workflow_url"
        let sql = """
            SELECT stopped_at, duration_seconds, \(status) AS status, \(number) AS number, branch, revision, \(url) AS url
            FROM \(source.relation) \(whereSQL) \(whereSQL.isEmpty ? "WHERE" : "AND") stopped_at IS NOT NULL
            ORDER BY stopped_at DESC LIMIT ?
            """
        try query(sql, arguments: arguments + [.integer(Int64(limit))], into: &sink)
    }

    /// Every row of a source's view that the filter selects, in a stable order, streamed.
    public func export(_ source: RunSource, filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = source.whereClause(filter)
        try query("SELECT * FROM \(source.relation) \(whereSQL) ORDER BY \(source.timeColumn), \(source.idColumn)", arguments: arguments, into: &sink)
    }
}

/// Counts and durations of one group of runs, and its latest failure.
struct RunAccumulator {
    var statuses = StatusCounts()
    var durations: [Double] = []
    /// The latest failure with a known time; of several at that time, the greatest job id.
    var lastFailure: (at: String, job: String)?

    mutating func add(status: String?, duration: Double?, stoppedAt: String?, job: String?) {
        if statuses.add(status), let stoppedAt, let job { noteFailure(at: stoppedAt, job: job) }
        if let duration { durations.append(duration) }
    }

    mutating func noteFailure(at: String, job: String) {
        if let last = lastFailure, (last.at, last.job) >= (at, job) { return }
        lastFailure = (at, job)
    }

    /// The values of `ArchiveReader.durationColumns`, in order.
    func statistics() -> [SQLValue] {
        var values: [SQLValue] = [statuses.runs, statuses.succeeded, statuses.failed, statuses.canceled].map { .integer(Int64($0)) }
        values.append(statuses.successRate.map(SQLValue.real) ?? .null)
        guard !durations.isEmpty else {
            return values + Array(repeating: .null, count: 8)
        }
        let sample = Sample(durations)
        values += [.real(sample.mean), sample.standardDeviation.map(SQLValue.real) ?? .null, .real(sample.sorted[0])]
        values += [50.0, 90, 95, 99].map { .real(sample.percentile($0)) } + [.real(sample.sorted[sample.sorted.count - 1])]
        return values
    }
}

/// Runs counted by status, as every report counts them: succeeded is `success`, failed one of
/// `RunStatus.failures`, and the rates leave out canceled runs and runs of other statuses.
struct StatusCounts {
    var runs = 0
    var succeeded = 0
    var failed = 0
    var canceled = 0

    /// Counts one run; whether it failed.
    @discardableResult
    mutating func add(_ status: String?) -> Bool {
        runs += 1
        switch status {
        case RunStatus.success: succeeded += 1
        case RunStatus.canceled: canceled += 1
        case let status where RunStatus.isFailure(status):
            failed += 1
            return true
        default: break
        }
        return false
    }

    /// Adds counts made elsewhere (a summary's).
    mutating func add(_ other: StatusCounts) {
        runs += other.runs
        succeeded += other.succeeded
        failed += other.failed
        canceled += other.canceled
    }

    /// succeeded / (succeeded + failed), to four decimals; nil when no run counts.
    var successRate: Double? { rate(of: succeeded) }
    /// failed / (succeeded + failed), to four decimals; nil when no run counts.
    var failureRate: Double? { rate(of: failed) }

    private func rate(of part: Int) -> Double? {
        succeeded + failed > 0 ? rounded(Double(part) / Double(succeeded + failed), places: 4) : nil
    }
}

/// A non-empty sample of seconds, sorted, for the statistics every report prints the same way:
/// nearest-rank percentiles (the value at 1-based rank ceil(p/100 × n)), the mean and the sample
/// standard deviation rounded to milliseconds.
struct Sample {
    let sorted: [Double]

    init(_ values: [Double]) {
        precondition(!values.isEmpty)
        sorted = values.sorted()
    }

    var mean: Double { rounded(sorted.reduce(0, +) / Double(sorted.count), places: 3) }

    /// NULL below two values.
    var standardDeviation: Double? {
        guard sorted.count > 1 else { return nil }
        let mean = sorted.reduce(0, +) / Double(sorted.count)
        return rounded((sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sorted.count - 1)).squareRoot(), places: 3)
    }

    func percentile(_ p: Double) -> Double {
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[max(rank, 1) - 1]
    }
}

/// What `report queue` groups job runs by.
public enum QueueGrouping: String, Sendable, CaseIterable {
    case job
    case resourceClass = "resource_class"
    case project

    var keys: [(name: String, column: String)] {
        switch self {
        case .job: return [("project", "project_slug"), ("job", "job_name")]
        case .resourceClass: return [("resource_class", "resource_class")]
        case .project: return [("project", "project_slug")]
        }
    }
}

extension ArchiveReader {
    /// Queue time (`started_at` − `queued_at`, known for enriched jobs) per group: the runs with
    /// a known queue time, its mean, nearest-rank p50 … p99 and maximum, sorted by key.
    public func queueReport(by grouping: QueueGrouping, filter: RunFilter, into sink: inout some RowSink) throws {
        let (whereSQL, arguments) = RunSource.jobs.whereClause(filter)
        let known = (whereSQL.isEmpty ? "WHERE " : whereSQL + " AND ") + "queue_seconds IS NOT NULL"
        let keyCount = grouping.keys.count
        let sql = "SELECT \((grouping.keys.map(\.column) + ["queue_seconds"]).joined(separator: ", ")) FROM job_runs \(known)"
        var groups: [[SQLValue]: [Double]] = [:]
        try stream(
            sql,
            arguments: arguments,
            columns: { _ in },
            row: { row in
                if let seconds = row[keyCount].number { groups[Array(row[0..<keyCount]), default: []].append(seconds) }
            }
        )
        try sink.start(columns: grouping.keys.map(\.name) + ["runs", "mean_s", "p50_s", "p90_s", "p95_s", "p99_s", "max_s"])
        for key in groups.keys.sorted(by: SQLValue.precedes) {
            let sample = Sample(groups[key]!)
            try sink.write(
                key + [.integer(Int64(sample.sorted.count)), .real(sample.mean)] + [50.0, 90, 95, 99].map { .real(sample.percentile($0)) }
                    + [.real(sample.sorted[sample.sorted.count - 1])]
            )
        }
    }
}

func rounded(_ value: Double, places: Int) -> Double {
    let scale = pow(10, Double(places))
    return (value * scale).rounded() / scale
}

extension SQLValue {
    /// SQLite's sort order: NULL, then numbers, then text, then blobs.
    static func precedes(_ lhs: [SQLValue], _ rhs: [SQLValue]) -> Bool {
        for (left, right) in zip(lhs, rhs) where left != right {
            return left.sortsBefore(right)
        }
        return lhs.count < rhs.count
    }

    private var sortClass: Int {
        switch self {
        case .null: return 0
        case .integer, .real: return 1
        case .text: return 2
        case .blob: return 3
        }
    }

    func sortsBefore(_ other: SQLValue) -> Bool {
        if sortClass != other.sortClass { return sortClass < other.sortClass }
        switch (self, other) {
        case (.text(let left), .text(let right)): return left.utf8.lexicographicallyPrecedes(right.utf8)
        case (.blob(let left), .blob(let right)): return left.lexicographicallyPrecedes(right)
        default: return (number ?? 0) < (other.number ?? 0)
        }
    }
}

extension ArchiveReader {
    /// The columns of `report regressions`.
    public static let regressionColumns = [
        "project", "job", "runs_before", "runs_recent", "p50_before_s", "p50_recent_s", "p50_change", "failure_rate_before",
        "failure_rate_recent",
    ]

    /// Jobs getting worse: the last `recentDays` before the end of the window (its `until`, else
    /// the newest event) against the `baselineDays` before those, from the summaries of job runs and the runs of partial days.
    /// A job is listed when its median duration rose by a fifth or more, or its failure rate
    /// (failed / (succeeded + failed)) by 5 points or more, with at least 3 runs on each side.
    /// `p50_change` is recent / before − 1. Worst first: the larger of the median's rise and four
    /// times the failure rate's.
    public func regressionReport(filter: RunFilter, recentDays: Int = 7, baselineDays: Int = 28, into sink: inout some RowSink) throws {
        let day: Int64 = 86_400_000_000
        let end = try filter.until ?? newestEventTime().map { Timestamp(microseconds: $0.microseconds + 1) } ?? .now()
        let recentStart = Timestamp(microseconds: end.microseconds - Int64(recentDays) * day)
        let baselineStart = Timestamp(microseconds: recentStart.microseconds - Int64(baselineDays) * day)
        var window = filter
        window.since = max(baselineStart, filter.since ?? baselineStart)
        window.until = end
        let recentMark = recentStart.iso8601
        let parts = try reading { session in
            try runGroups(
                .jobs,
                keys: ["project_slug", "job_name"],
                filter: window,
                bucket: { stoppedAt in .integer(stoppedAt.map { $0 >= recentMark } == true ? 1 : 0) },
                cuts: [recentStart],
                rollup: nil,
                in: session
            )
        }
        var groups: [[SQLValue]: (before: RunAccumulator, recent: RunAccumulator)] = [:]
        for (key, part) in parts {
            // Each side is one group of `parts`, moved in whole: its bucket is the third key.
            if key[2] == .integer(1) {
                groups[Array(key[0..<2]), default: (RunAccumulator(), RunAccumulator())].recent = part
            } else {
                groups[Array(key[0..<2]), default: (RunAccumulator(), RunAccumulator())].before = part
            }
        }
        var rows: [(score: Double, key: [SQLValue], values: [SQLValue])] = []
        for (key, group) in groups {
            guard group.before.statuses.runs >= 3, group.recent.statuses.runs >= 3, let before = group.before.medianAndFailureRate,
                let recent = group.recent.medianAndFailureRate
            else { continue }
            let slower = before.median > 0 ? recent.median / before.median - 1 : 0
            let failing = recent.failureRate - before.failureRate
            guard slower >= 0.2 || failing >= 0.05 else { continue }
            let values: [SQLValue] = [
                .integer(Int64(group.before.statuses.runs)), .integer(Int64(group.recent.statuses.runs)), .real(before.median), .real(recent.median),
                .real(rounded(slower, places: 4)), .real(before.failureRate), .real(recent.failureRate),
            ]
            rows.append((max(slower, failing * 4), key, values))
        }
        rows.sort { $0.score != $1.score ? $0.score > $1.score : SQLValue.precedes($0.key, $1.key) }
        try sink.start(columns: Self.regressionColumns)
        for row in rows { try sink.write(row.key + row.values) }
    }
}

extension RunAccumulator {
    /// The nearest-rank median of the known durations and failed / (succeeded + failed), both
    /// rounded as the reports round them; nil without a duration or a counted run.
    var medianAndFailureRate: (median: Double, failureRate: Double)? {
        guard !durations.isEmpty, let failureRate = statuses.failureRate else { return nil }
        return (Sample(durations).percentile(50), failureRate)
    }
}
