import ArchiveModel
import ArchiveStore
import ArchiveTestSupport
import Foundation
import Synchronization
import Testing

@testable import ArchiveBackfill

/// Enrichment against the fake CircleCI: details and paged tests stored, 404s recorded, rate
/// limits and server errors retried, a bad token stopping with the queue kept.
@Suite struct EnricherTests {
    static let slug = "gh/acme/widgets"

    /// A store with jobs 1, 2 and 3 of gh/acme/widgets archived through webhooks and queued.
    func queuedStore() async throws -> ArchiveStore {
        let store = try ArchiveStore(
            path: try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path,
            options: .init(queuesEnrichment: true)
        )
        for number in 1...3 {
            _ = try await store.receive(Delivery(body: Array(Fixtures.jobCompleted(id: "e\(number)", jobID: "j\(number)", number: number).utf8)))
        }
        return store
    }

    func fake() -> FakeCircleCI {
        let fake = FakeCircleCI(projects: [:], pageSize: 2)
        fake.state.withLock { state in
            state.jobDetails["\(Self.slug)/1"] = APIFixtures.jobDetails(number: 1)
            state.jobDetails["\(Self.slug)/2"] = APIFixtures.jobDetails(number: 2, resourceClass: "medium", executorType: "machine", parallelism: 4)
            state.tests["\(Self.slug)/1"] =
                (1...5).map { APIFixtures.test(name: "test\($0)", result: $0 == 3 ? "failure" : "success") }
                + [APIFixtures.test(name: "stringly", runTime: #""1.5""#)]
        }
        return fake
    }

    @Test func everyQueuedJobIsEnrichedWithItsTestsThroughRateLimitsAndServerErrors() async throws {
        let fake = fake()
        fake.state.withLock { state in
            state.faults["/api/v2/project/gh/acme/widgets/job/1"] = [(429, "0")]
            state.faults["/api/v2/project/gh/acme/widgets/1/tests?page-token=page-2"] = [(500, nil)]
        }
        let (url, stop) = await fake.serve()
        let store = try await queuedStore()
        let counts = try await Enricher(store: store, connection: BackfillTests.connection(url)).drain()
        await stop()
        #expect(counts.enriched == 2 && counts.unavailable == 1 && counts.postponed == 0 && counts.tests == 6, "\(counts)")
        // Job 1: details (and one 429), 3 pages of tests (and one 500); job 2: details, tests (404); job 3: details (404).
        #expect(counts.requests == 9, "\(fake.requests)")
        #expect(
            try store.reader.texts(
                "SELECT job_id, resource_class, executor_type, parallelism, queue_seconds, (SELECT enrichment_status FROM jobs WHERE id = job_id) FROM job_runs ORDER BY job_id"
            ) == [
                "j1|large|docker|1|8.0|enriched", "j2|medium|machine|4|8.0|enriched", "j3|NULL|NULL|NULL|NULL|unavailable",
            ]
        )
        #expect(
            try store.reader.texts("SELECT test_name, result, run_time_seconds FROM test_runs WHERE job_id = 'j1' ORDER BY position") == [
                "test1|success|0.25", "test2|success|0.25", "test3|failure|0.25", "test4|success|0.25", "test5|success|0.25", "stringly|success|1.5",
            ]
        )
        #expect(try store.reader.texts("SELECT count(*) FROM enrichment_queue") == ["0"])
        #expect(!fake.requests.contains { $0.contains(FakeCircleCI.token) })

        // Nothing is left to ask about, and nothing archived lacks enrichment.
        fake.state.withLock { $0.requests = [] }
        #expect(try await store.queueUnenriched(since: nil, projects: []) == 0)
        try store.close()
    }

    @Test func aJobThatKeepsFailingWaitsAndABadTokenStopsWithTheQueueKept() async throws {
        let fake = fake()
        fake.state.withLock { $0.broken = ["/api/v2/project/gh/acme/widgets/job/2"] }
        let (url, stop) = await fake.serve()
        let store = try await queuedStore()
        let counts = try await Enricher(store: store, connection: BackfillTests.connection(url)).drain()
        #expect(counts.enriched == 1 && counts.unavailable == 1 && counts.postponed == 1, "\(counts)")
        #expect(
            try store.reader.texts("SELECT job_id, attempts, next_attempt_at > queued_at, last_error LIKE '%503%' FROM enrichment_queue") == [
                "j2|1|1|1"
            ]
        )

        let fresh = try await queuedStore()
        await #expect {
            _ = try await Enricher(store: fresh, connection: BackfillTests.connection(url, token: "wrong")).drain()
        } throws: { error in
            (error as? BackfillError)?.code == .unauthorized
        }
        #expect(try fresh.reader.texts("SELECT count(*) FROM enrichment_queue") == ["3"], "the queue is kept for a good token")
        await stop()
        try store.close()
        try fresh.close()
    }

    @Test func retriesWaitLongerEachTimeUpToADay() {
        #expect(Enricher.retryDelay(afterAttempts: 0) == .seconds(60))
        #expect(Enricher.retryDelay(afterAttempts: 3) == .seconds(480))
        #expect(Enricher.retryDelay(afterAttempts: 40) == .seconds(86_400))
    }
}
