import ArchiveBackfill
import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// The enrichment worker inside `serve`, against the fake CircleCI on loopback.
@Suite struct EnrichmentServiceTests {
    /// A token CircleCI refuses (revoked, or the user lost access) is said once per try, at
    /// error level; the worker waits, keeps the queue, and enriches the job once the token is
    /// accepted again. Webhooks are answered meanwhile.
    @Test func aRefusedTokenIsLoggedAndTriedAgainLaterWithTheQueueKept() async throws {
        let fake = FakeCircleCI(projects: [:], pageSize: 2)
        fake.state.withLock { state in
            state.jobDetails["gh/acme/widgets/1"] = APIFixtures.jobDetails(number: 1)
            state.tests["gh/acme/widgets/1"] = [APIFixtures.test(name: "t1"), APIFixtures.test(name: "t2"), APIFixtures.test(name: "t3")]
            state.faults["/api/v2/project/gh/acme/widgets/job/1"] = [(401, nil)]
        }
        let (url, stop) = await fake.serve()
        let capture = LogCapture()
        let configuration = try testConfiguration {
            $0.enrichment = APIConnection(url: url, token: FakeCircleCI.token)
            $0.enrichmentPollInterval = .milliseconds(50)
            $0.enrichmentRetryDelay = .seconds(1)
        }
        let app = try await buildApplication(configuration, logger: capture.logger())
        let reader = try ArchiveReader.open(path: configuration.databasePath)
        try await app.test(.live) { client in
            #expect(try await client.deliver(Fixtures.jobCompleted(id: "e1", jobID: "j1", number: 1)).0 == .ok)
            let refused = try await eventually { capture.lines.contains { $0.level == .error } }
            let stoppedAt = ContinuousClock.now
            #expect(refused)
            #expect(try reader.count("enrichment_queue") == 1, "the queue is kept")
            // Webhooks go on while enrichment waits.
            #expect(try await client.deliver(Fixtures.jobCompleted(id: "e2", jobID: "j2", number: 2)).0 == .ok)
            #expect(try await eventually { try reader.count("test_results") == 3 })
            #expect(ContinuousClock.now - stoppedAt >= .milliseconds(900), "tried again after the delay, not at once")
        }
        await stop()
        let errors = capture.lines.filter { $0.level == .error }.map(\.message)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.hasPrefix("enrichment stopped: CircleCI refused the token (401)") == true, "\(errors)")
        #expect(errors.first?.contains("the queue is kept and tried again in 1.0 seconds") == true, "\(errors)")
        #expect(!capture.lines.contains { $0.message.contains(FakeCircleCI.token) })
        #expect(fake.requests.filter { $0 == "/api/v2/project/gh/acme/widgets/job/1" }.count == 2, "one refused, one answered")
    }
}

/// Polls `condition` every 50 ms for up to 20 s; whether it became true.
func eventually(_ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

/// The summaries' refresh inside `serve`: a run on an earlier day is summarized in the
/// background, today's is left to be read from the runs, and the log says what was done.
@Suite struct SummaryServiceTests {
    @Test func earlierDaysAreSummarizedInTheBackgroundAndTodayIsLeft() async throws {
        let capture = LogCapture()
        let configuration = try testConfiguration { $0.summaryInterval = .milliseconds(100) }
        let app = try await buildApplication(configuration, logger: capture.logger(level: .debug))
        let reader = try ArchiveReader.open(path: configuration.databasePath)
        let now = Timestamp.now()
        let today = String(now.iso8601.prefix(10))
        try await app.test(.live) { client in
            // Fixtures' runs stopped on 2024-03-05; this one stops today.
            let earlier = try await client.deliver(Fixtures.jobCompleted(id: "e1", jobID: "j1"))
            let current = try await client.deliver(Fixtures.jobCompleted(id: "e2", happenedAt: now.iso8601, jobID: "j2", stoppedAt: now.iso8601))
            #expect(earlier.0 == .ok && current.0 == .ok)
            #expect(try await eventually { try reader.texts("SELECT day FROM job_run_days_stale") == [today] })
            #expect(try await eventually { try reader.texts("SELECT day FROM job_run_days") == ["2024-03-05"] })
            #expect(try await eventually { try reader.texts("SELECT month FROM job_run_months") == ["2024-03"] })
        }
        // Refreshes after the first pass are told at debug level: one a day is the usual.
        #expect(capture.lines.contains { $0.message == "summaries refreshed" }, "\(capture.lines.map(\.message))")
    }
}
