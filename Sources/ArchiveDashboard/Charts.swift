import ArchiveModel
import ArchiveStore
import Foundation

extension RowCollector {
    /// A row of the report as a dictionary by column name, as charts and table links read it.
    func named(_ row: [SQLValue]) -> [String: SQLValue] {
        Dictionary(zip(columns, row), uniquingKeysWith: { first, _ in first })
    }

    var namedRows: [[String: SQLValue]] { rows.map(named) }
}

/// The dashboard's charts, each from a report's rows (column names as the report prints them).
enum Charts {
    /// Runs per period as bars, the failed part in red (from `report trend`).
    static func runsPerPeriod(_ trend: RowCollector, project: String, title: String) -> TimeChart {
        var runs: [TimeChart.Mark] = []
        var failed: [TimeChart.Mark] = []
        for row in trend.namedRows where row["project"]?.text == project {
            guard let period = row["period"]?.text, let time = TimeChart.seconds(period) else { continue }
            let count = row["runs"]?.number ?? 0
            let failures = row["failed"]?.number ?? 0
            runs.append(.init(time: time, value: count, label: "\(period): \(HTML.number(count)) runs"))
            failed.append(.init(time: time, value: failures, label: "\(period): \(HTML.number(failures)) failed"))
        }
        return TimeChart(
            title: title,
            unit: "",
            series: [
                .init(name: "runs", className: "runs", style: .bars, marks: runs),
                .init(name: "failed", className: "failed", style: .bars, marks: failed),
            ]
        )
    }

    /// failed / (succeeded + failed) per period, the complement of `success_rate`.
    static func failureRate(_ trend: RowCollector, project: String? = nil, title: String) -> TimeChart {
        var marks: [TimeChart.Mark] = []
        for row in trend.namedRows where project == nil || row["project"]?.text == project {
            guard let period = row["period"]?.text, let time = TimeChart.seconds(period), let rate = row["success_rate"]?.number else { continue }
            marks.append(.init(time: time, value: 1 - rate, label: "\(period): \(TimeChart.format(1 - rate, unit: "%")) failed"))
        }
        return TimeChart(title: title, unit: "%", series: [.init(name: "failure rate", className: "rate", style: .line, marks: marks)], maximum: 1)
    }

    /// p50 and p95 durations per period, as two lines.
    static func percentiles(_ trend: RowCollector, project: String? = nil, title: String) -> TimeChart {
        var p50: [TimeChart.Mark] = []
        var p95: [TimeChart.Mark] = []
        for row in trend.namedRows where project == nil || row["project"]?.text == project {
            guard let period = row["period"]?.text, let time = TimeChart.seconds(period) else { continue }
            if let value = row["p50_s"]?.number {
                p50.append(.init(time: time, value: value, label: "week of \(period): p50 \(TimeChart.format(value, unit: "s"))"))
            }
            if let value = row["p95_s"]?.number {
                p95.append(.init(time: time, value: value, label: "week of \(period): p95 \(TimeChart.format(value, unit: "s"))"))
            }
        }
        return TimeChart(
            title: title,
            unit: "s",
            series: [.init(name: "p50", className: "p50", style: .line, marks: p50), .init(name: "p95", className: "p95", style: .line, marks: p95)]
        )
    }

    /// Each run's duration as a point (failed ones in red), with the weekly p50 and p95 over it.
    static func runs(_ runs: RowCollector, weekly: RowCollector) -> TimeChart {
        var points: [TimeChart.Mark] = []
        for row in runs.namedRows {
            guard let stopped = row["stopped_at"]?.text, let time = TimeChart.seconds(stopped), let duration = row["duration_seconds"]?.number else {
                continue
            }
            let status = row["status"]?.text ?? "unknown"
            let label = "\(stopped.prefix(16).replacingOccurrences(of: "T", with: " ")) · \(TimeChart.format(duration, unit: "s")) · \(status)"
            points.append(.init(time: time, value: duration, label: label, className: RunStatus.isFailure(status) ? "failed" : nil))
        }
        var chart = percentiles(weekly, title: "Each run's duration, with p50 and p95 per week")
        chart.wide = true
        chart.series.insert(.init(name: "runs", className: "run", style: .points, marks: points), at: 0)
        // Weekly lines sit at the middle of their week.
        for index in chart.series.indices where chart.series[index].style == .line {
            chart.series[index].marks = chart.series[index].marks.map { mark in
                var mark = mark
                mark.time += 3.5 * 86_400
                return mark
            }
        }
        return chart
    }

    static func weeklyFailureRate(_ weekly: RowCollector) -> TimeChart {
        failureRate(weekly, title: "Failure rate per week")
    }
}
