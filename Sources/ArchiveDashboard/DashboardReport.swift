import ArchiveOutput
import ArchiveStore

/// A report the dashboard serves as data (`/data/NAME.csv` or `.json`): the same reader call
/// and the same `RowPrinter` as `circle-archive report NAME`, with the same defaults, so the
/// bytes are the CLI's.
enum DashboardReport {
    case durations(DurationGrouping)
    case trend(DurationGrouping, TrendPeriod)
    case flaky
    case failures
    case slowest(limit: Int)
    case queue(QueueGrouping)
    case tests(TestGrouping)
    case flakyTests
    case regressions(recentDays: Int, baselineDays: Int)
    /// Not a report: the newest job runs (`failed=1`: failed ones), as the job and workflow
    /// pages list them.
    case recentRuns(RunSource, failedOnly: Bool)

    static let names = [
        "durations", "trend", "flaky", "failures", "slowest", "queue", "tests", "flaky-tests", "regressions", "job-runs", "workflow-runs",
    ]

    init(name: String, options: [String: String]) throws(DashboardError) {
        func option<Value: RawRepresentable>(_ key: String, _ fallback: Value) throws(DashboardError) -> Value where Value.RawValue == String {
            guard let text = options[key] else { return fallback }
            guard let value = Value(rawValue: text) else { throw DashboardError(.badRequest, "\(key)=\(text) is not one of the accepted values") }
            return value
        }
        switch name {
        case "durations": self = .durations(try option("by", DurationGrouping.job))
        case "trend":
            let grouping: DurationGrouping = try option("by", .job)
            guard grouping == .job || grouping == .workflow else { throw DashboardError(.badRequest, "trend groups by job or workflow") }
            self = .trend(grouping, try option("every", TrendPeriod.week))
        case "flaky": self = .flaky
        case "failures": self = .failures
        case "slowest":
            guard let limit = Int(options["limit"] ?? "20"), limit > 0 else { throw DashboardError(.badRequest, "limit must be a positive number") }
            self = .slowest(limit: limit)
        case "queue": self = .queue(try option("by", QueueGrouping.job))
        case "tests": self = .tests(try option("by", TestGrouping.test))
        case "flaky-tests": self = .flakyTests
        case "regressions":
            guard let recent = Int(options["recent-days"] ?? "7"), let baseline = Int(options["baseline-days"] ?? "28"), recent > 0, baseline > 0
            else {
                throw DashboardError(.badRequest, "recent-days and baseline-days must be positive numbers")
            }
            self = .regressions(recentDays: recent, baselineDays: baseline)
        case "job-runs": self = .recentRuns(.jobs, failedOnly: options["failed"] == "1")
        case "workflow-runs": self = .recentRuns(.workflows, failedOnly: options["failed"] == "1")
        default: throw DashboardError(.notFound, "no report named \(name)")
        }
    }

    /// How many rows `recentRuns` lists at most.
    static let recentRunsLimit = 1_000

    func run(_ reader: ArchiveReader, filter: RunFilter, into sink: inout some RowSink) throws {
        switch self {
        case .durations(let grouping): try reader.durationReport(by: grouping, filter: filter, into: &sink)
        case .trend(let grouping, let period): try reader.durationReport(by: grouping, every: period, filter: filter, into: &sink)
        case .flaky: try reader.flakyReport(filter: filter, into: &sink)
        case .failures: try reader.failureReport(filter: filter, into: &sink)
        case .slowest(let limit): try reader.slowestReport(filter: filter, limit: limit, into: &sink)
        case .queue(let grouping): try reader.queueReport(by: grouping, filter: filter, into: &sink)
        case .tests(let grouping): try reader.testReport(by: grouping, filter: filter, into: &sink)
        case .flakyTests: try reader.flakyTestReport(filter: filter, into: &sink)
        case .regressions(let recent, let baseline):
            try reader.regressionReport(filter: filter, recentDays: recent, baselineDays: baseline, into: &sink)
        case .recentRuns(let source, let failedOnly):
            try reader.recentRuns(source, filter: filter, failedOnly: failedOnly, limit: Self.recentRunsLimit, into: &sink)
        }
    }

    /// The rows, printed as `format` prints them.
    func printed(_ reader: ArchiveReader, filter: RunFilter, format: OutputFormat) throws -> [UInt8] {
        let output = OutputSink()
        var printer = RowPrinter(format: format, sink: output)
        try run(reader, filter: filter, into: &printer)
        try printer.finish()
        return output.captured
    }

    func rows(_ reader: ArchiveReader, filter: RunFilter) throws -> RowCollector {
        var rows = RowCollector()
        try run(reader, filter: filter, into: &rows)
        return rows
    }
}
