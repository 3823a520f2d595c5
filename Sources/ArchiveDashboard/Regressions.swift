import ArchiveModel
import ArchiveStore

/// Jobs getting worse: the last 7 days of a window against the 28 days before it, from two runs
/// of `report durations --by job`. A job is listed when its median duration rose by a fifth or
/// more, or its failure rate by 5 points or more, with at least 3 runs on each side.
struct Regressions {
    let reader: ArchiveReader
    let filter: RunFilter

    static let recentDays: Int64 = 7
    static let baselineDays: Int64 = 28

    func rows() throws -> RowCollector {
        let end = try filter.until ?? reader.newestEventTime() ?? .now()
        let day: Int64 = 86_400_000_000
        let recentStart = Timestamp(microseconds: end.microseconds - Self.recentDays * day)
        var recent = filter
        recent.since = max(recentStart, filter.since ?? recentStart)
        recent.until = Timestamp(microseconds: end.microseconds + 1)
        var baseline = filter
        let baselineStart = Timestamp(microseconds: recentStart.microseconds - Self.baselineDays * day)
        baseline.since = max(baselineStart, filter.since ?? baselineStart)
        baseline.until = recentStart
        let before = try figures(baseline)
        var rows: [(score: Double, row: [SQLValue])] = []
        for (key, now) in try figures(recent) {
            guard let then = before[key], now.runs >= 3, then.runs >= 3 else { continue }
            let slower = then.p50 > 0 ? now.p50 / then.p50 - 1 : 0
            let failing = now.failureRate - then.failureRate
            guard slower >= 0.2 || failing >= 0.05 else { continue }
            rows.append(
                (
                    max(slower, failing * 4),
                    [
                        .text(key.project), .text(key.job), .integer(Int64(then.runs)), .integer(Int64(now.runs)), .real(then.p50), .real(now.p50),
                        .real((slower * 1000).rounded() / 1000), .real(then.failureRate), .real(now.failureRate),
                    ]
                )
            )
        }
        var collector = RowCollector()
        try collector.start(columns: [
            "project", "job", "runs_before", "runs_recent", "p50_before_s", "p50_recent_s", "p50_change", "failure_rate_before",
            "failure_rate_recent",
        ])
        for row in rows.sorted(by: { $0.score > $1.score }) { try collector.write(row.row) }
        return collector
    }

    private struct Key: Hashable {
        let project: String
        let job: String
    }

    private func figures(_ filter: RunFilter) throws -> [Key: (runs: Int, p50: Double, failureRate: Double)] {
        var rows = RowCollector()
        try reader.durationReport(by: .job, filter: filter, into: &rows)
        var figures: [Key: (runs: Int, p50: Double, failureRate: Double)] = [:]
        for row in Charts.named(rows) {
            guard let project = row["project"]?.text, let job = row["job"]?.text, let p50 = row["p50_s"]?.number else { continue }
            // failure_rate = 1 - success_rate, as `report failures` counts it.
            let rate = row["success_rate"]?.number.map { ((1 - $0) * 10000).rounded() / 10000 } ?? 0
            figures[Key(project: project, job: job)] = (Int(row["runs"]?.number ?? 0), p50, rate)
        }
        return figures
    }
}
