import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// The day and month summaries of job runs are a cache: every report that reads them prints what
/// it prints from the runs alone, byte for byte, whatever arrived in what order and whatever was
/// refreshed when.
@Suite struct RunSummaryTests {
    static let origin = Timestamp(iso8601: "2024-01-20T00:00:00Z")!

    /// Job-completed events over 75 days (three months), several projects, workflows, branches
    /// and jobs, with later corrections of some runs (another status and stop time, a renamed
    /// workflow, another branch), delivered shuffled with duplicates.
    static func events(seed: UInt64) -> [String] {
        var random = SeededGenerator(seed: seed)
        let statuses = ["success", "success", "success", "success", "failed", "error", "canceled", "timedout", "not_run"]
        var events: [String] = []
        for index in 0..<700 {
            let stopped = origin.microseconds + Int64.random(in: 0..<(75 * 86_400_000_000), using: &random)
            // Whole seconds now and then, so ties and equal durations occur.
            let duration: Int64? = index % 17 == 0 ? nil : Int64.random(in: 1...900, using: &random) * (index % 3 == 0 ? 1_000_000 : 1_000)
            func event(_ id: String, at stoppedAt: Int64, status: String, workflow: String, branch: String, happenedAfter: Int64) -> String {
                var body = Fixtures.jobCompleted(
                    id: id,
                    happenedAt: Timestamp(microseconds: stoppedAt + happenedAfter).iso8601,
                    jobID: "job-\(index)",
                    number: index,
                    name: ["build", "test", "lint", "deploy"][index % 4],
                    status: status,
                    startedAt: duration.map { Timestamp(microseconds: stoppedAt - $0).iso8601 },
                    stoppedAt: Timestamp(microseconds: stoppedAt).iso8601,
                    workflowID: "wf-\(index / 3)",
                    workflowName: workflow,
                    pipeline: Fixtures.githubPipeline(id: "pl-\(index / 6)", branch: branch, revision: "rev\(index / 6)")
                )
                if index % 5 == 0 {
                    body = body.replacingOccurrences(of: Fixtures.projectID, with: "0a0a0a0a-0000-4000-8000-000000000001")
                        .replacingOccurrences(of: "github/acme/widgets", with: "github/acme/gadgets")
                }
                return body
            }
            let workflow = index % 2 == 0 ? "build" : "nightly"
            let branch = ["main", "main", "develop", "feature/x"][(index / 6) % 4]
            let status = statuses.randomElement(using: &random)!
            events.append(event("e\(index)", at: stopped, status: status, workflow: workflow, branch: branch, happenedAfter: 1000))
            if index % 9 == 0 {
                // A newer event about the same run: it moves (maybe to another day) and changes.
                let moved = stopped + Int64.random(in: -2 * 86_400_000_000...2 * 86_400_000_000, using: &random)
                events.append(
                    event(
                        "e\(index)-again",
                        at: moved,
                        status: statuses.randomElement(using: &random)!,
                        workflow: index % 27 == 0 ? "renamed" : workflow,
                        branch: index % 18 == 0 ? "release" : branch,
                        happenedAfter: 5 * 86_400_000_000
                    )
                )
            }
        }
        // A completion for most workflows, with a status; some twice (a cancelled workflow's
        // stop time grows), some never (known only through their jobs, status unknown).
        for workflow in 0..<(700 / 3) where workflow % 7 != 3 {
            let stopped = origin.microseconds + Int64.random(in: 0..<(75 * 86_400_000_000), using: &random)
            for again in 0..<(workflow % 5 == 0 ? 2 : 1) {
                let stoppedAt = stopped + Int64(again) * 3_600_000_000
                var body = Fixtures.workflowCompleted(
                    id: "w\(workflow)-\(again)",
                    happenedAt: Timestamp(microseconds: stoppedAt + 1000).iso8601,
                    workflowID: "wf-\(workflow)",
                    name: workflow % 2 == 0 ? "build" : "nightly",
                    status: ["success", "success", "failed", "canceled", "error"].randomElement(using: &random)!,
                    createdAt: Timestamp(microseconds: stopped - Int64.random(in: 1...3_000_000_000, using: &random)).iso8601,
                    stoppedAt: Timestamp(microseconds: stoppedAt).iso8601,
                    pipeline: Fixtures.githubPipeline(
                        id: "pl-\(workflow / 2)",
                        branch: ["main", "main", "develop", "feature/x"][(workflow / 2) % 4],
                        revision: "rev\(workflow / 2)"
                    )
                )
                if workflow % 4 == 0 {
                    body = body.replacingOccurrences(of: Fixtures.projectID, with: "0a0a0a0a-0000-4000-8000-000000000001")
                        .replacingOccurrences(of: "github/acme/widgets", with: "github/acme/gadgets")
                }
                events.append(body)
            }
        }
        events += events.prefix(40)
        events.shuffle(using: &random)
        return events
    }

    /// The reports whose job-run figures come from the summaries, each over several windows.
    static func reports(_ reader: ArchiveReader) throws -> [String: RowCollector] {
        func at(_ text: String) -> Timestamp { Timestamp(iso8601: text)! }
        let filters: [String: RunFilter] = [
            "all": RunFilter(),
            "odd window": RunFilter(since: at("2024-01-23T05:06:07.089Z"), until: at("2024-03-19T23:00:00Z")),
            "whole days": RunFilter(since: at("2024-02-01T00:00:00Z"), until: at("2024-03-01T00:00:00Z")),
            "since": RunFilter(since: at("2024-02-10T12:00:00Z")),
            "until": RunFilter(until: at("2024-02-29T00:00:01Z")),
            "within a day": RunFilter(since: at("2024-02-10T01:00:00Z"), until: at("2024-02-10T20:00:00Z")),
            "branch": RunFilter(branch: "main"),
            "project, workflow": RunFilter(projects: ["gh/acme/gadgets"], workflow: "nightly"),
            "job, window": RunFilter(since: at("2024-02-03T00:00:00Z"), job: "test"),
        ]
        var results: [String: RowCollector] = [:]
        for (name, filter) in filters {
            results["durations \(name)"] = try report { try reader.durationReport(by: .job, filter: filter, into: &$0) }
            results["trend day \(name)"] = try report { try reader.durationReport(by: .job, every: .day, filter: filter, into: &$0) }
            results["trend week \(name)"] = try report { try reader.durationReport(by: .job, every: .week, filter: filter, into: &$0) }
            for grouping in [DurationGrouping.workflow, .project, .branch] {
                results["durations by \(grouping) \(name)"] = try report { try reader.durationReport(by: grouping, filter: filter, into: &$0) }
            }
            results["trend week by workflow \(name)"] = try report {
                try reader.durationReport(by: .workflow, every: .week, filter: filter, into: &$0)
            }
            results["failures \(name)"] = try report { try reader.failureReport(filter: filter, into: &$0) }
            var until = filter
            until.until = until.until ?? at("2024-03-25T13:14:15Z")
            results["regressions \(name)"] = try report {
                try reader.regressionReport(filter: until, recentDays: 9, baselineDays: 20, into: &$0)
            }
        }
        return results
    }

    static func expectSameReports(_ store: ArchiveStore, _ context: String) throws {
        var runsOnly = store.reader
        runsOnly.useSummaries = false
        let (expected, actual) = (try reports(runsOnly), try reports(store.reader))
        for (name, rows) in expected {
            #expect(actual[name]?.columns == rows.columns, "\(context): \(name)")
            #expect(actual[name]?.rows == rows.rows, "\(context): \(name)")
        }
    }

    @Test(arguments: [1 as UInt64, 2, 3])
    func reportsFromSummariesEqualReportsFromRuns(seed: UInt64) async throws {
        let (store, _) = try makeStore(options: .init(durability: .normal))
        let events = Self.events(seed: seed)
        var random = SeededGenerator(seed: seed + 100)
        for (chunk, slice) in stride(from: 0, to: events.count, by: 90).map({ ($0, events[$0..<min($0 + 90, events.count)]) }) {
            for body in slice { _ = try await store.receive(Delivery(body: Array(body.utf8))) }
            switch Int.random(in: 0..<3, using: &random) {
            case 0: _ = try await store.refreshSummaries()
            case 1:
                let day = UTCDay(Timestamp(microseconds: Self.origin.microseconds + Int64.random(in: 0..<75, using: &random) * 86_400_000_000))
                _ = try await store.refreshSummaries(before: day.text)
            default: break
            }
            try Self.expectSameReports(store, "seed \(seed), after chunk \(chunk)")
        }
        let refresh = try await store.refreshSummaries()
        try Self.expectSameReports(store, "seed \(seed), all refreshed")
        for summaries in ["job_run", "workflow_run"] {
            for table in ["days", "months", "weeks"].map({ "\(summaries)_\($0)_stale" }) {
                #expect(try store.reader.value("SELECT count(*) FROM \(table)") == .integer(0), "\(table)")
            }
        }
        #expect(refresh.periods > 0 || refresh.days == 0)

        // All refreshed, an all-time report reads months, days and no runs but the undated.
        let plan = try store.reader.reading { try store.reader.plan(.jobs, filter: RunFilter(), cuts: [], rollup: .month, in: $0) }
        #expect(plan.contains(.periods(from: "2024-01", to: "2024-05")), "\(plan)")
        #expect(!plan.contains { if case .runs = $0 { return true } else { return false } }, "\(plan)")
        // A weekly trend reads whole weeks from week rows.
        let weekly = try store.reader.reading { try store.reader.plan(.jobs, filter: RunFilter(), cuts: [], rollup: .week, in: $0) }
        #expect(weekly.contains { if case .periods(let from, _) = $0 { return from <= "2024-01-22" } else { return false } }, "\(weekly)")

        // Late corrections of old runs, one kind at a time: each stales what it changes, and
        // reports stay exact before the next refresh.
        let row = try #require(
            try store.reader.rows(
                "SELECT started_at, stopped_at, job_name, job_status, workflow_id, workflow_name, branch FROM job_runs WHERE job_id = 'job-11'"
            )
            .first
        )
        func text(_ index: Int) -> String { row[index].text ?? "" }
        let pipeline = Fixtures.githubPipeline(id: "pl-1", branch: text(6), revision: "rev1")
        let workflow = try #require(
            try store.reader.rows("SELECT created_at, stopped_at, workflow_status FROM workflow_runs WHERE workflow_id = ?", [row[4]]).first
        )
        let corrections: [(String, String)] = [
            (
                "workflow status only",
                Fixtures.workflowCompleted(
                    id: "late-workflow-status",
                    happenedAt: "2024-11-30T00:00:00Z",
                    workflowID: text(4),
                    name: text(5),
                    status: workflow[2].text == "success" ? "failed" : "success",
                    createdAt: workflow[0].text ?? "",
                    stoppedAt: workflow[1].text,
                    pipeline: pipeline
                )
            ),
            (
                "status only",
                Fixtures.jobCompleted(
                    id: "late-status",
                    happenedAt: "2024-12-01T00:00:00Z",
                    jobID: "job-11",
                    number: 11,
                    name: text(2),
                    status: text(3) == "success" ? "failed" : "success",
                    startedAt: row[0].text,
                    stoppedAt: row[1].text,
                    workflowID: text(4),
                    workflowName: text(5),
                    pipeline: pipeline
                )
            ),
            (
                "workflow renamed",
                Fixtures.workflowCompleted(
                    id: "late-rename",
                    happenedAt: "2024-12-02T00:00:00Z",
                    workflowID: text(4),
                    name: "renamed-late",
                    pipeline: pipeline
                )
            ),
            (
                "branch changed",
                Fixtures.workflowCompleted(
                    id: "late-branch",
                    happenedAt: "2024-12-03T00:00:00Z",
                    workflowID: text(4),
                    name: "renamed-late",
                    pipeline: Fixtures.githubPipeline(id: "pl-1", branch: "hotfix", revision: "rev1")
                )
            ),
            (
                "project renamed",
                Fixtures.workflowCompleted(
                    id: "late-slug",
                    happenedAt: "2024-12-04T00:00:00Z",
                    workflowID: "wf-other",
                    name: "other",
                    pipeline: pipeline
                )
                .replacingOccurrences(of: "github/acme/widgets", with: "github/acme/widgets-2")
            ),
            (
                "run moved",
                Fixtures.jobCompleted(
                    id: "late-move",
                    happenedAt: "2024-12-05T00:00:00Z",
                    jobID: "job-11",
                    number: 11,
                    name: text(2),
                    status: "failed",
                    startedAt: "2024-02-14T10:00:00Z",
                    stoppedAt: "2024-02-14T11:00:00.5Z",
                    workflowID: text(4),
                    workflowName: "renamed-late",
                    pipeline: Fixtures.githubPipeline(id: "pl-1", branch: "hotfix", revision: "rev1")
                )
            ),
        ]
        for (name, body) in corrections {
            _ = try await store.receive(Delivery(body: Array(body.utf8)))
            #expect(
                try store.reader.value("SELECT (SELECT count(*) FROM job_run_days_stale) + (SELECT count(*) FROM workflow_run_days_stale)")
                    != .integer(0),
                "\(name)"
            )
            try Self.expectSameReports(store, "seed \(seed), after a late correction: \(name)")
            _ = try await store.refreshSummaries()
        }
        try Self.expectSameReports(store, "seed \(seed), refreshed again")
    }

    @Test func aWindowIsReadFromMonthsDaysAndRunsWhereEachIsFresh() {
        func at(_ text: String) -> Timestamp { Timestamp(iso8601: text)! }
        let plan = SummarySegment.plan(
            since: at("2024-01-30T12:00:00Z"),
            until: at("2024-04-02T06:00:00Z"),
            staleDays: ["2024-02-10", "2024-02-11", "2024-03-31", "2023-05-01", ""],
            rollup: .month,
            builtPeriods: ["2024-01", "2024-02", "2024-03"]
        )
        #expect(
            plan == [
                .runs(from: "2024-01-30T12:00:00.000Z", to: "2024-01-31"),
                .days(from: "2024-01-31", to: "2024-02-10"),
                .runs(from: "2024-02-10", to: "2024-02-12"),
                .days(from: "2024-02-12", to: "2024-03-31"),
                .runs(from: "2024-03-31", to: "2024-04-01"),
                .days(from: "2024-04-01", to: "2024-04-02"),
                .runs(from: "2024-04-02", to: "2024-04-02T06:00:00.000Z"),
            ]
        )
        let allTime = SummarySegment.plan(
            since: nil,
            until: nil,
            cuts: [at("2024-03-15T08:00:00Z")],
            staleDays: ["2024-04-03"],
            rollup: .month,
            stalePeriods: ["2024-01"],
            builtPeriods: ["2024-01", "2024-02", "2024-03", "2024-04"]
        )
        #expect(
            allTime == [
                .undatedDay, .days(from: nil, to: "2024-02-01"), .periods(from: "2024-02", to: "2024-03"),
                .days(from: "2024-03-01", to: "2024-03-15"),
                .runs(from: "2024-03-15", to: "2024-03-16"), .days(from: "2024-03-16", to: "2024-04-03"), .runs(from: "2024-04-03", to: "2024-04-04"),
                .days(from: "2024-04-04", to: nil),
            ]
        )
        // A window inside one day is read from its runs alone.
        #expect(
            SummarySegment.plan(
                since: at("2024-02-10T01:00:00Z"),
                until: at("2024-02-10T02:00:00Z"),
                staleDays: [],
                rollup: .month
            ) == [.runs(from: "2024-02-10T01:00:00.000Z", to: "2024-02-10T02:00:00.000Z")]
        )
    }

    @Test func weeksAreReadWhereWholeAndFresh() {
        func at(_ text: String) -> Timestamp { Timestamp(iso8601: text)! }
        // Mondays: 2024-02-05, 12, 19, 26. The week of the 12th has a stale day.
        let plan = SummarySegment.plan(
            since: at("2024-02-04T00:00:00Z"),
            until: at("2024-03-01T00:00:00Z"),
            staleDays: ["2024-02-14"],
            rollup: .week,
            builtPeriods: ["2024-01-29", "2024-02-05", "2024-02-12", "2024-02-19", "2024-02-26"]
        )
        #expect(
            plan == [
                .days(from: "2024-02-04", to: "2024-02-05"), .periods(from: "2024-02-05", to: "2024-02-12"),
                .days(from: "2024-02-12", to: "2024-02-14"), .runs(from: "2024-02-14", to: "2024-02-15"),
                .days(from: "2024-02-15", to: "2024-02-19"), .periods(from: "2024-02-19", to: "2024-02-26"),
                .days(from: "2024-02-26", to: "2024-03-01"),
            ]
        )
    }

    @Test func weeksStartOnMondayAsSQLitesDateFunctionSaysTheyDo() throws {
        let (store, _) = try makeStore()
        for offset in 0..<30 {
            let day = UTCDay(number: 19_700 + Int64(offset))
            let sqlite = try store.reader.value("SELECT date(?, '-6 days', 'weekday 1')", [.text(day.start.iso8601)])
            #expect(TrendPeriod.week.bucket(day.start.iso8601) == sqlite, "\(day.text)")
        }
    }
}
