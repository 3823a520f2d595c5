import ArchiveModel
import ArchiveTestSupport
import Foundation
import Synchronization
import Testing

@testable import ArchiveStore

/// Every statement a report runs with a time window, as SQLite plans it: the window is found
/// through an index on completion time, never by reading every job, workflow or test result.
/// Plans, not timings, so the test is stable; what it guards grows with the archive.
@Suite struct QueryPlanTests {
    /// Every report, narrowed to the last 30 days.
    static func reports(_ reader: ArchiveReader, _ filter: RunFilter) throws {
        var sink = RowCollector()
        for grouping in DurationGrouping.allCases { try reader.durationReport(by: grouping, filter: filter, into: &sink) }
        for period in TrendPeriod.allCases {
            try reader.durationReport(by: .job, every: period, filter: filter, into: &sink)
            try reader.durationReport(by: .workflow, every: period, filter: filter, into: &sink)
        }
        try reader.flakyReport(filter: filter, into: &sink)
        try reader.failureReport(filter: filter, into: &sink)
        try reader.slowestReport(filter: filter, limit: 20, into: &sink)
        for grouping in QueueGrouping.allCases { try reader.queueReport(by: grouping, filter: filter, into: &sink) }
        for grouping in TestGrouping.allCases { try reader.testReport(by: grouping, filter: filter, into: &sink) }
        try reader.flakyTestReport(filter: filter, into: &sink)
        try reader.regressionReport(filter: filter, into: &sink)
        try reader.recentRuns(.jobs, filter: filter, limit: 100, into: &sink)
        try reader.recentRuns(.workflows, filter: filter, failedOnly: true, limit: 100, into: &sink)
        for source in RunSource.allCases where source != .events { try reader.export(source, filter: filter, into: &sink) }
    }

    @Test func windowedReportsFindTheirRunsThroughAnIndex() async throws {
        let store = try await fixtureArchive()
        let path = store.path
        try await store.store(
            JobEnrichment(jobID: "job-0", outcome: .enriched(JobDetails(jobID: "job-0"), tests: [TestResult(name: "t", result: "failure")])),
            dequeuing: nil
        )
        // Built summaries, so that the reports read them (stale days would be read from the runs).
        _ = try await store.refreshSummaries()
        let statements = Mutex<[String]>([])
        let reader = try ArchiveReader.open(path: path, onStatement: { sql in statements.withLock { $0.append(sql) } })
        try Self.reports(reader, RunFilter(since: Timestamp(iso8601: "2024-06-01T00:00:00Z")))
        let selects = statements.withLock { $0 }.filter { $0.uppercased().hasPrefix("SELECT") || $0.hasPrefix("WITH") }
        #expect(selects.count >= 20)
        let plain = try ArchiveReader.open(path: path)
        for sql in Set(selects) {
            var plan = RowCollector()
            try plain.query("EXPLAIN QUERY PLAN " + sql, into: &plan)
            let details = plan.rows.compactMap { $0.last?.text }
            // A full scan of one of the big tables: `SCAN j`, `SCAN jobs`, `SCAN t` (a covering index scan names the index),
            // or of the summaries of runs.
            let scans = details.filter { detail in
                detail.hasPrefix("SCAN ") && !detail.contains("USING")
                    && [
                        "j", "jobs", "w", "workflows", "t", "test_results", "events", "job_run_days", "job_run_months", "workflow_run_days",
                        "workflow_run_months",
                    ].contains(String(detail.dropFirst(5).prefix { $0 != " " }))
            }
            #expect(scans.isEmpty, "\(sql)\n\(details.joined(separator: "\n"))")
        }
    }
}
