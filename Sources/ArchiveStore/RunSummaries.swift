import ArchiveModel
import Foundation
import GRDB

/// A UTC calendar day, numbered from 1970-01-01.
struct UTCDay: Hashable, Comparable {
    static let microseconds: Int64 = 86_400_000_000
    let number: Int64

    init(number: Int64) { self.number = number }

    /// The day `timestamp` falls in.
    init(_ timestamp: Timestamp) {
        let (quotient, remainder) = timestamp.microseconds.quotientAndRemainder(dividingBy: Self.microseconds)
        number = remainder < 0 ? quotient - 1 : quotient
    }

    /// The day a text starting `YYYY-MM-DD` names (a day, or an ISO 8601 timestamp).
    init?(prefixOf text: some StringProtocol) {
        guard text.utf8.count >= 10, let start = Timestamp(iso8601: text.prefix(10) + "T00:00:00Z") else { return nil }
        self.init(start)
    }

    static func < (lhs: UTCDay, rhs: UTCDay) -> Bool { lhs.number < rhs.number }

    var start: Timestamp { Timestamp(microseconds: number * Self.microseconds) }
    var next: UTCDay { UTCDay(number: number + 1) }
    /// `YYYY-MM-DD`.
    var text: String { String(start.iso8601.prefix(10)) }
    /// `YYYY-MM`.
    var month: String { String(text.prefix(7)) }
    /// The Monday of its ISO week (1970-01-01 was a Thursday).
    var monday: UTCDay { UTCDay(number: number - (((number + 3) % 7) + 7) % 7) }
}

/// A span of whole days whose summary rows are merged from its days' rows: a calendar month
/// (`YYYY-MM`), or an ISO week named by its Monday (`YYYY-MM-DD`).
enum Rollup: String, Sendable, CaseIterable {
    case month
    case week

    /// The period `day` falls in.
    func period(of day: UTCDay) -> String {
        switch self {
        case .month: return day.month
        case .week: return day.monday.text
        }
    }

    /// The first day of `period` and the first of the next.
    func days(of period: String) -> (first: UTCDay, next: UTCDay)? {
        switch self {
        case .month:
            guard let first = UTCDay(prefixOf: period + "-01"), let year = Int(period.prefix(4)), let number = Int(period.suffix(2)) else {
                return nil
            }
            let next = number == 12 ? String(format: "%04d-01-01", year + 1) : String(format: "%04d-%02d-01", year, number + 1)
            return UTCDay(prefixOf: next).map { (first, $0) }
        case .week:
            return UTCDay(prefixOf: period).map { ($0, UTCDay(number: $0.number + 7)) }
        }
    }
}

/// The day, week and month summaries of job or workflow runs (migration 0008): a cache of `job_runs`
/// or `workflow_runs` that reports read instead of every run where it is fresh. Building them is
/// here; reading them is `ArchiveReader.runGroups`.
struct RunSummaries: Sendable {
    /// The view summarized.
    let view: String
    /// Its tables are `<prefix>_days`, `_days_stale`, and for each rollup `_months`, `_weeks`
    /// and their `_stale`.
    let prefix: String
    /// The view's columns a summary row is keyed by, under the same names.
    let keyColumns: [String]
    let statusColumn: String
    let idColumn: String

    static let jobs = RunSummaries(
        view: "job_runs",
        prefix: "job_run",
        keyColumns: ["project_slug", "workflow_name", "job_name", "branch"],
        statusColumn: "job_status",
        idColumn: "job_id"
    )
    static let workflows = RunSummaries(
        view: "workflow_runs",
        prefix: "workflow_run",
        keyColumns: ["project_slug", "workflow_name", "branch"],
        statusColumn: "workflow_status",
        idColumn: "workflow_id"
    )
    static let all = [jobs, workflows]

    var days: String { prefix + "_days" }
    /// The table of a rollup's rows, and of the periods to rebuild.
    func table(_ rollup: Rollup) -> String { "\(prefix)_\(rollup.rawValue)s" }
    func staleTable(_ rollup: Rollup) -> String { "\(prefix)_\(rollup.rawValue)s_stale" }
    var staleDays: String { prefix + "_days_stale" }

    static let valueColumns = ["runs", "succeeded", "failed", "canceled", "durations", "last_failed_at", "last_failed_id"]
    /// A summary row's columns after its day, week or month: the keys, then `valueColumns`.
    var columns: String { (keyColumns + Self.valueColumns).joined(separator: ", ") }

    /// The view's columns a run is read with: all the keys, then status, duration, stop time, id.
    var runColumns: String {
        (keyColumns + [statusColumn, "duration_seconds", "stopped_at", idColumn]).joined(separator: ", ")
    }

    /// Rebuilds one day's rows from the view (`''`: the runs with no stop time), marks its month
    /// and week for rebuilding and the day fresh, in the caller's write transaction.
    func rebuild(day: String, in db: Database) throws {
        let (condition, arguments) = Self.rawCondition(day: day)
        let groups = try group("SELECT \(runColumns) FROM \(view) WHERE \(condition)", arguments, in: db) { $0.add(run: $1) }
        try replace(day, of: days, stale: staleDays, with: groups, in: db)
        if let utcDay = UTCDay(prefixOf: day) {
            for rollup in Rollup.allCases {
                try db.execute(sql: "INSERT INTO \(staleTable(rollup)) VALUES (?) ON CONFLICT DO NOTHING", arguments: [rollup.period(of: utcDay)])
            }
        }
    }

    /// Rebuilds one month's or week's rows from its days' rows, when they are all fresh, and
    /// marks it fresh; otherwise leaves it stale. Whether it rebuilt.
    func rebuild(_ rollup: Rollup, period: String, in db: Database) throws -> Bool {
        guard let (first, next) = rollup.days(of: period) else { return false }
        let span: [SQLValue] = [.text(first.text), .text(next.text)]
        guard
            try Bool.fetchOne(
                db,
                sql: "SELECT NOT EXISTS (SELECT 1 FROM \(staleDays) WHERE day >= ? AND day < ?)",
                arguments: .init(span.map(\.databaseValue))
            ) == true
        else {
            return false
        }
        let groups = try group("SELECT \(columns) FROM \(days) WHERE day >= ? AND day < ?", span, in: db) { $0.add(summary: $1) }
        try replace(period, of: table(rollup), stale: staleTable(rollup), with: groups, in: db)
        return true
    }

    /// The rows of `sql` (the key columns first) grouped by key, each row added by `add`.
    private func group(
        _ sql: String,
        _ arguments: [SQLValue],
        in db: Database,
        add: (inout RunAccumulator, ArraySlice<SQLValue>) -> Void
    ) throws -> [[SQLValue]: RunAccumulator] {
        let keyCount = keyColumns.count
        var groups: [[SQLValue]: RunAccumulator] = [:]
        try ReadSession(db: db).stream(
            sql,
            arguments: arguments,
            columns: { _ in },
            row: { row in add(&groups[Array(row[0..<keyCount]), default: RunAccumulator()], row[keyCount...]) }
        )
        return groups
    }

    /// Replaces `period`'s rows of `table` with `groups` and marks the period fresh in `stale`.
    private func replace(_ period: String, of table: String, stale: String, with groups: [[SQLValue]: RunAccumulator], in db: Database) throws {
        let column = Self.periodColumn(of: table)
        try db.execute(sql: "DELETE FROM \(table) WHERE \(column) = ?", arguments: [period])
        let placeholders = Array(repeating: "?", count: 1 + keyColumns.count + Self.valueColumns.count).joined(separator: ", ")
        let statement = try db.cachedStatement(sql: "INSERT INTO \(table) (\(column), \(columns)) VALUES (\(placeholders))")
        for (key, group) in groups {
            var values: [SQLValue] = [.text(period)] + key
            values += [group.statuses.runs, group.statuses.succeeded, group.statuses.failed, group.statuses.canceled].map { .integer(Int64($0)) }
            values.append(group.durations.isEmpty ? .null : .blob(DurationBlob.encode(group.durations.sorted())))
            values += [SQLValue(group.lastFailure?.at), SQLValue(group.lastFailure?.job)]
            statement.arguments = StatementArguments(values.map(\.databaseValue))
            try statement.execute()
        }
        try db.execute(sql: "DELETE FROM \(stale) WHERE \(column) = ?", arguments: [period])
    }

    /// The condition selecting one day's runs in a view; a day's bounds are bare dates, so that
    /// every spelling of a time on that day sorts between them, as `substr` cuts them.
    static func rawCondition(day: String) -> (String, [SQLValue]) {
        guard let utcDay = UTCDay(prefixOf: day) else { return ("stopped_at IS NULL", []) }
        return ("stopped_at >= ? AND stopped_at < ?", [.text(day), .text(utcDay.next.text)])
    }

    /// `day`, `month` or `week`: the first column of a summary table.
    static func periodColumn(of table: String) -> String {
        table.hasSuffix("_months") ? "month" : table.hasSuffix("_weeks") ? "week" : "day"
    }
}

/// Durations as stored in a summary: 8-byte little-endian IEEE doubles.
enum DurationBlob {
    static func encode(_ values: [Double]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 8)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], appendingTo values: inout [Double]) {
        // No reserveCapacity: a group takes many blobs, and reserving each one's exact size would
        // copy the whole array every time (append grows it geometrically).
        bytes.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count - 7, by: 8) {
                values.append(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
            }
        }
    }
}

extension RunAccumulator {
    /// One run read with `RunSummaries.runColumns`, from its status on: status, duration, stop
    /// time, id.
    mutating func add(run values: ArraySlice<SQLValue>) {
        let base = values.startIndex
        add(status: values[base].text, duration: values[base + 1].number, stoppedAt: values[base + 2].text, job: values[base + 3].text)
    }

    /// A summary row's values, from `runs` on (`RunSummaries.valueColumns`); its durations only
    /// when `withDurations`.
    mutating func add(summary values: ArraySlice<SQLValue>, withDurations: Bool = true) {
        let base = values.startIndex
        func count(_ index: Int) -> Int { Int(values[base + index].number ?? 0) }
        statuses.add(StatusCounts(runs: count(0), succeeded: count(1), failed: count(2), canceled: count(3)))
        if withDurations, case .blob(let bytes) = values[base + 4] { DurationBlob.decode(bytes, appendingTo: &durations) }
        if let at = values[base + 5].text, let job = values[base + 6].text { noteFailure(at: at, job: job) }
    }
}

// MARK: Refreshing

/// What `ArchiveStore.refreshSummaries` rebuilt.
public struct SummaryRefresh: Sendable, Equatable {
    public var days = 0
    /// Months and weeks.
    public var periods = 0
}

extension ArchiveStore {
    /// Rebuilds the stale day summaries of job and workflow runs (those before `day`,
    /// `YYYY-MM-DD`, when given: `serve` leaves today, which changes with every run, to be read
    /// from the runs), then every month and week whose days are all fresh. One write transaction
    /// per day, month or week, so that webhooks are stored in between; cancelling stops between two. `progress` is
    /// told (done, total) after each day.
    public func refreshSummaries(
        before day: String? = nil,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) async throws(StoreError)
        -> SummaryRefresh
    {
        var refresh = SummaryRefresh()
        do {
            let stale = try await pool.read { db in
                try RunSummaries.all.map { summaries in
                    try String.fetchAll(
                        db,
                        sql: "SELECT day FROM \(summaries.staleDays) WHERE day < ? ORDER BY day",
                        arguments: [day ?? "9999-12-31"]
                    )
                }
            }
            let total = stale.reduce(0) { $0 + $1.count }
            for (summaries, days) in zip(RunSummaries.all, stale) {
                for day in days where !Task.isCancelled {
                    // Rebuilt from what the view holds now, whatever staled it meanwhile.
                    try await pool.write { db in try summaries.rebuild(day: day, in: db) }
                    afterCommit()
                    refresh.days += 1
                    progress?(refresh.days, total)
                }
                for rollup in Rollup.allCases {
                    let periods = try await pool.read { db in
                        try String.fetchAll(db, sql: "SELECT \(rollup.rawValue) FROM \(summaries.staleTable(rollup)) ORDER BY 1")
                    }
                    for period in periods where !Task.isCancelled {
                        // A period with a stale day waits for it (a later refresh builds it).
                        if try await pool.write({ db in try summaries.rebuild(rollup, period: period, in: db) }) {
                            afterCommit()
                            refresh.periods += 1
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Stopped between two transactions: what was rebuilt is committed, the rest stays stale.
        } catch {
            throw StoreError(.unavailable, "cannot refresh the summaries of runs: \(describe(error))", cause: error)
        }
        return refresh
    }
}

// MARK: Reading

/// Where a report reads one stretch of its window from.
enum SummarySegment: Equatable {
    /// Rows of the plan's rollup for periods in [from, to) (`YYYY-MM` months, or weeks by their Monday).
    case periods(from: String, to: String)
    /// Day rows for days in [from, to) (`YYYY-MM-DD`); nil: unbounded.
    case days(from: String?, to: String?)
    /// The day row of runs with no stop time.
    case undatedDay
    /// Runs themselves, stopped in [from, to) (text compared as `stopped_at` is).
    case runs(from: String?, to: String?)
    /// Runs with no stop time.
    case undatedRuns

    /// The stretches covering `since ..< until`: runs for partial days, for stale days and for
    /// days holding a cut (a time a caller splits its groups at); the `rollup`'s rows for its
    /// whole, fresh periods (months, or weeks); day rows for the rest. Runs with no stop time count only when the
    /// window is unbounded.
    static func plan(
        since: Timestamp?,
        until: Timestamp?,
        cuts: [Timestamp] = [],
        staleDays: Set<String>,
        rollup: Rollup?,
        stalePeriods: Set<String> = [],
        builtPeriods: [String] = []
    ) -> [SummarySegment] {
        var segments: [SummarySegment] = []
        var first = since.map { UTCDay($0) }
        if let since, let day = first, day.start != since {
            first = day.next
        }
        let end = until.map { UTCDay($0) }
        if let first, let end, first >= end {
            return [.runs(from: since?.iso8601, to: until?.iso8601)]
        }
        if let since, let first, first.start != since { segments.append(.runs(from: since.iso8601, to: first.text)) }
        if since == nil, until == nil { segments.append(staleDays.contains("") ? .undatedRuns : .undatedDay) }

        // Days read from runs, and fresh whole periods, inside [first, end).
        func inside(_ day: UTCDay) -> Bool { (first.map { day >= $0 } ?? true) && (end.map { day < $0 } ?? true) }
        var rawDays = Set(staleDays.compactMap { UTCDay(prefixOf: $0) }.filter(inside))
        for cut in cuts where UTCDay(cut).start != cut && inside(UTCDay(cut)) { rawDays.insert(UTCDay(cut)) }
        var exceptions: [(from: UTCDay, to: UTCDay, segment: SummarySegment)] = rawDays.map { ($0, $0.next, .runs(from: $0.text, to: $0.next.text)) }
        if let rollup {
            let unusable = stalePeriods.union(rawDays.map(rollup.period(of:)))
            for period in builtPeriods where !unusable.contains(period) {
                guard let (start, next) = rollup.days(of: period), inside(start), end.map({ next <= $0 }) ?? true else { continue }
                exceptions.append((start, next, .periods(from: period, to: rollup.period(of: next))))
            }
        }
        exceptions.sort { $0.from < $1.from }
        var cursor = first
        for exception in exceptions {
            if cursor.map({ $0 < exception.from }) ?? true { segments.append(.days(from: cursor?.text, to: exception.from.text)) }
            segments.append(exception.segment)
            cursor = exception.to
        }
        if cursor.map({ day in end.map { day < $0 } ?? true }) ?? true {
            segments.append(.days(from: cursor?.text, to: end?.text))
        }
        if let until, let end, end.start != until { segments.append(.runs(from: end.text, to: until.iso8601)) }
        return coalesced(segments)
    }

    /// Adjacent stretches of the same kind joined, so a run of stale days is one query.
    private static func coalesced(_ segments: [SummarySegment]) -> [SummarySegment] {
        var joined: [SummarySegment] = []
        for segment in segments {
            switch (joined.last, segment) {
            case (.runs(let from, let middle)?, .runs(let start, let to)) where middle != nil && middle == start:
                joined[joined.count - 1] = .runs(from: from, to: to)
            case (.periods(let from, let middle)?, .periods(let start, let to)) where middle == start:
                joined[joined.count - 1] = .periods(from: from, to: to)
            default:
                joined.append(segment)
            }
        }
        return joined
    }
}

extension ArchiveReader {
    /// The runs of `source` (jobs or workflows) the filter selects, grouped by `keys` (columns
    /// among its `RunSummaries.keyColumns`) and, when given, by `bucket` of each run's stop time
    /// (a fresh day's rows are given the day's first instant, so a bucket must not split a day
    /// except at a `cuts` time, nor a `rollup` period: nil for daily buckets, `.week` for weekly
    /// ones). Exact: summaries where fresh, runs elsewhere. Without
    /// `durations`, the groups' durations are left out (runs' may be kept: cheap).
    func runGroups(
        _ source: RunSource,
        keys: [String],
        filter: RunFilter,
        bucket: ((String?) -> SQLValue)? = nil,
        cuts: [Timestamp] = [],
        rollup: Rollup? = .month,
        durations: Bool = true,
        in session: ReadSession
    ) throws -> [[SQLValue]: RunAccumulator] {
        let summaries = source == .jobs ? RunSummaries.jobs : RunSummaries.workflows
        precondition(source == .jobs || source == .workflows)
        var groups: [[SQLValue]: RunAccumulator] = [:]
        let keyCount = summaries.keyColumns.count
        let keyIndexes = keys.map { summaries.keyColumns.firstIndex(of: $0)! }
        /// The row's key, and its bucket when there is one (`bucketOf` is asked only then).
        func groupKey(_ row: [SQLValue], bucketOf: () -> SQLValue) -> [SQLValue] {
            var key = keyIndexes.map { row[$0] }
            if bucket != nil { key.append(bucketOf()) }
            return key
        }
        var keyless = filter
        keyless.since = nil
        keyless.until = nil
        let (filterSQL, filterArguments) = source.whereClause(keyless)
        func conditions(_ extra: [String]) -> String {
            let all = (filterSQL.isEmpty ? [] : [String(filterSQL.dropFirst("WHERE ".count))]) + extra
            return all.isEmpty ? "" : "WHERE " + all.joined(separator: " AND ")
        }
        func readRuns(_ range: [String], _ arguments: [SQLValue]) throws {
            try session.stream(
                "SELECT \(summaries.runColumns) FROM \(summaries.view) \(conditions(range))",
                arguments: filterArguments + arguments,
                columns: { _ in },
                row: { row in
                    groups[groupKey(row) { bucket!(row[keyCount + 2].text) }, default: RunAccumulator()].add(run: row[keyCount...])
                }
            )
        }
        // A day's bucket, worked out once per day rather than once per row.
        var dayBuckets: [SQLValue: SQLValue] = [:]
        func readSummaries(_ table: String, _ range: [String], _ arguments: [SQLValue]) throws {
            let period = RunSummaries.periodColumn(of: table)
            let valueCount = RunSummaries.valueColumns.count
            try session.stream(
                "SELECT \(summaries.columns), \(period) FROM \(table) \(conditions(range))",
                arguments: filterArguments + arguments,
                columns: { _ in },
                row: { row in
                    // Day and week rows have buckets (months are read without): their first instant.
                    let key = groupKey(row) {
                        let day = row[keyCount + valueCount]
                        if let known = dayBuckets[day] { return known }
                        let value = bucket!(day.text.flatMap { $0.isEmpty ? nil : $0 + "T00:00:00.000Z" })
                        dayBuckets[day] = value
                        return value
                    }
                    groups[key, default: RunAccumulator()].add(summary: row[keyCount..<(keyCount + valueCount)], withDurations: durations)
                }
            )
        }

        // A workflow's job-name filter asks for its jobs, which its summaries do not hold.
        let usable = useSummaries && !(source == .workflows && filter.job != nil)
        for segment in try plan(summaries, filter: filter, cuts: cuts, rollup: rollup, usable: usable, in: session) {
            switch segment {
            case .runs(let from, let to):
                var range: [String] = []
                var arguments: [SQLValue] = []
                if let from { (range, arguments) = (range + ["stopped_at >= ?"], arguments + [.text(from)]) }
                if let to { (range, arguments) = (range + ["stopped_at < ?"], arguments + [.text(to)]) }
                try readRuns(range, arguments)
            case .undatedRuns:
                try readRuns(["stopped_at IS NULL"], [])
            case .days(let from, let to):
                try readSummaries(summaries.days, ["day >= ?", "day < ?"], [.text(from ?? "0000-00-00"), .text(to ?? "9999-99-99")])
            case .undatedDay:
                try readSummaries(summaries.days, ["day = ''"], [])
            case .periods(let from, let to):
                guard let rollup else { preconditionFailure("periods are planned only with a rollup") }
                try readSummaries(summaries.table(rollup), ["\(rollup.rawValue) >= ?", "\(rollup.rawValue) < ?"], [.text(from), .text(to)])
            }
        }
        return groups
    }

    /// The stretches a report over `filter` reads (see `SummarySegment.plan`), as of the
    /// session's snapshot; unless `usable`, the runs alone.
    func plan(
        _ summaries: RunSummaries,
        filter: RunFilter,
        cuts: [Timestamp],
        rollup: Rollup?,
        usable: Bool = true,
        in session: ReadSession
    ) throws -> [SummarySegment] {
        guard usable else { return [.runs(from: filter.since?.iso8601, to: filter.until?.iso8601)] }
        let staleDays = Set(try String.fetchAll(session.db, sql: "SELECT day FROM \(summaries.staleDays)"))
        var stalePeriods: Set<String> = []
        var builtPeriods: [String] = []
        if let rollup {
            stalePeriods = Set(try String.fetchAll(session.db, sql: "SELECT \(rollup.rawValue) FROM \(summaries.staleTable(rollup))"))
            builtPeriods = try String.fetchAll(
                session.db,
                sql: "SELECT DISTINCT \(rollup.rawValue) FROM \(summaries.table(rollup)) ORDER BY 1"
            )
        }
        return SummarySegment.plan(
            since: filter.since,
            until: filter.until,
            cuts: cuts,
            staleDays: staleDays,
            rollup: rollup,
            stalePeriods: stalePeriods,
            builtPeriods: builtPeriods
        )
    }
}
