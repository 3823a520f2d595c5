import ArchiveMigrations
import ArchiveModel
import ArchiveTestSupport
import Foundation
import GRDB
import Testing

@testable import ArchiveStore

/// The storage side of enrichment: the durable queue, filled in the ingest transaction, and what
/// a fetch stores, idempotently.
@Suite struct EnrichmentStoreTests {
    static func time(_ text: String) -> Timestamp { Timestamp(iso8601: text)! }

    @Test func newlyStoredNumberedJobsAreQueuedOnceInTheIngestTransaction() async throws {
        let (store, _) = try makeStore(options: .init(queuesEnrichment: true))
        let job = Fixtures.jobCompleted(id: "e1", jobID: "j1", number: 7)
        _ = try await store.receive(job)
        _ = try await store.receive(job)  // a retry: a duplicate, nothing more queued
        _ = try await store.receive(Fixtures.jobCompleted(id: "e2", jobID: "j1", number: 7))  // another event of the same job
        _ = try await store.receive(Fixtures.workflowCompleted())  // no job to enrich
        // Two events of one job in one batch: queued once.
        let batch = [Fixtures.jobCompleted(id: "e3", jobID: "j3", number: 9), Fixtures.jobCompleted(id: "e4", jobID: "j3", number: 9)]
        _ = await store.receive(batch: batch.map { Delivery(body: Array($0.utf8)) })
        _ = try await store.receive(Fixtures.gitlabJobCompleted)  // a circleci/ORG/PROJECT slug is enriched too
        #expect(
            try store.reader.texts("SELECT job_id, project_slug, job_number FROM enrichment_queue ORDER BY seq") == [
                "j1|gh/acme/widgets|7", "j3|gh/acme/widgets|9", "8c9d0e1f-2a3b-4c4d-a5e6-f7a8b9c0d1e2|circleci/DdaVtNus/6EkDPZoN|12",
            ]
        )
        let (off, _) = try makeStore()
        _ = try await off.receive(job)
        #expect(try off.reader.texts("SELECT count(*) FROM enrichment_queue") == ["0"], "nothing is queued without a token")
    }

    @Test func aJobsTestsAreReplacedWholeAndTheQueueEmptied() async throws {
        let (store, _) = try makeStore(options: .init(queuesEnrichment: true))
        _ = try await store.receive(Fixtures.jobCompleted(jobID: "j1", number: 7))
        _ = try await store.receive(Fixtures.jobCompleted(id: "e2", jobID: "j2", number: 8))
        let queued = try store.queuedForEnrichment(limit: 10)
        #expect(queued.map(\.jobID) == ["j1", "j2"])
        let tests = (0..<3).map { TestResult(classname: "Suite", name: "test\($0)", result: "success", runTimeSeconds: Double($0)) }
        let details = JobDetails(jobID: "j1", queuedAt: Self.time("2024-03-05T10:11:20.841Z"), resourceClass: "large")
        for _ in 0..<2 {
            try await store.store(JobEnrichment(jobID: "j1", outcome: .enriched(details, tests: tests)), dequeuing: queued[0])
        }
        #expect(try store.reader.texts("SELECT count(*) FROM test_results") == ["3"], "a re-fetch never doubles them")
        #expect(try store.reader.texts("SELECT job_id FROM enrichment_queue") == ["j2"], "only the row it was fetched for leaves the queue")
        try await store.store(JobEnrichment(jobID: "j1", outcome: .enriched(details, tests: Array(tests.prefix(1)))), dequeuing: nil)
        #expect(try store.reader.texts("SELECT test_name, result FROM test_runs") == ["test0|success"])
        #expect(try store.reader.texts("SELECT queue_seconds, resource_class FROM job_runs WHERE job_id = 'j1'") == ["8.0|large"])
        // A webhook about the same job afterwards keeps what enrichment stored.
        _ = try await store.receive(Fixtures.jobCompleted(id: "later", happenedAt: "2024-03-05T11:00:00Z", jobID: "j1", number: 7))
        #expect(try store.reader.texts("SELECT resource_class, enrichment_status FROM jobs WHERE id = 'j1'") == ["large|enriched"])
        #expect(try store.reader.texts("SELECT job_id FROM enrichment_queue") == ["j2"], "and does not queue it again")
    }

    @Test func testRunsJoinEachResultToItsJobPipelineAndProject() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.jobCompleted(jobID: "j1", number: 136))
        let test = TestResult(classname: "Widgets", name: "saves", file: "spec/w.rb", result: "failure", runTimeSeconds: 0.25, message: "boom")
        try await store.store(JobEnrichment(jobID: "j1", outcome: .enriched(JobDetails(jobID: "j1"), tests: [test])), dequeuing: nil)
        #expect(
            try store.reader.texts(
                """
                SELECT project_slug, branch, revision, workflow_name, job_name, job_number, classname, test_name, file, result,
                       run_time_seconds, message, stopped_at, job_url FROM test_runs
                """
            ) == [
                "gh/acme/widgets|main|1dc6aa69429bff4806ad6afe58d3d8f57e25973e|build-test-deploy|test|136|Widgets|saves|spec/w.rb|failure|"
                    + "0.25|boom|2024-03-05T10:12:34.170Z|https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/"
                    + "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a/jobs/136"
            ]
        )
    }

    @Test func anUnavailableJobIsMarkedAndNotQueuedAgain() async throws {
        let (store, _) = try makeStore(options: .init(queuesEnrichment: true))
        _ = try await store.receive(Fixtures.jobCompleted(jobID: "j1", number: 7))
        try await store.store(JobEnrichment(jobID: "j1", outcome: .unavailable), dequeuing: nil)
        #expect(try store.reader.texts("SELECT enrichment_status, resource_class FROM jobs") == ["unavailable|NULL"])
        #expect(try await store.queueUnenriched(since: nil, projects: []) == 0)
    }

    @Test func failedFetchesWaitTheirTurnAndUnenrichedJobsCanBeQueuedLater() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.jobCompleted(id: "e1", jobID: "j1", number: 1))
        _ = try await store.receive(Fixtures.jobCompleted(id: "e2", jobID: "j2", number: 2, stoppedAt: "2024-06-01T00:00:00Z"))
        _ = try await store.receive(Fixtures.gitlabJobCompleted)
        #expect(try await store.queueUnenriched(since: Self.time("2024-04-01T00:00:00Z"), projects: []) == 2, "j2 and the GitLab job")
        #expect(try await store.queueUnenriched(since: nil, projects: ["github/acme/widgets"]) == 1, "j1; j2 is queued already")
        let now = Self.time("2030-01-01T00:00:00Z")
        #expect(try store.queuedForEnrichment(limit: 10, now: now).count == 3)
        let j1 = try #require(try store.queuedForEnrichment(limit: 10, now: now).first { $0.jobID == "j1" })
        try await store.postponeEnrichment(of: j1, until: Self.time("2030-01-01T00:01:00Z"), error: "CircleCI answered 503")
        #expect(try store.queuedForEnrichment(limit: 10, now: now).map(\.jobID).sorted() == ["8c9d0e1f-2a3b-4c4d-a5e6-f7a8b9c0d1e2", "j2"])
        let due = try store.queuedForEnrichment(limit: 10, now: Self.time("2030-01-01T00:02:00Z"))
        #expect(
            due.last == QueuedJob(seq: j1.seq, jobID: "j1", projectSlug: "gh/acme/widgets", jobNumber: 1, attempts: 1),
            "due last, at its new time"
        )
        #expect(try store.reader.texts("SELECT last_error FROM enrichment_queue WHERE job_id = 'j1'") == ["CircleCI answered 503"])
    }

    /// Migration 0006 rebuilds the queue keyed by its order: what an archive had queued under
    /// 0005 stays queued, in the order it was due, with its attempts and last error.
    @Test func jobsQueuedUnderTheFirstQueueSchemaStayQueued() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path
        let database = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in Migrations.all.prefix(while: { $0.id != "0006_enrichment_queue_appends" }) {
            migrator.registerMigration(migration.id) { db in try db.execute(sql: migration.sql) }
        }
        try migrator.migrate(database)
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO enrichment_queue (job_id, project_slug, job_number, queued_at, attempts, next_attempt_at, last_error) VALUES
                    ('jB', 'gh/acme/widgets', 2, '2024-01-01T00:00:00.000Z', 1, '2024-01-01T00:05:00.000Z', 'CircleCI answered 503'),
                    ('jA', 'gh/acme/widgets', 1, '2024-01-01T00:00:00.000Z', 0, '2024-01-01T00:00:00.000Z', NULL)
                    """
            )
        }
        try database.close()
        let store = try ArchiveStore(path: path)
        #expect(
            try store.queuedForEnrichment(limit: 10, now: Self.time("2024-01-02T00:00:00Z")) == [
                QueuedJob(seq: 1, jobID: "jA", projectSlug: "gh/acme/widgets", jobNumber: 1),
                QueuedJob(seq: 2, jobID: "jB", projectSlug: "gh/acme/widgets", jobNumber: 2, attempts: 1),
            ]
        )
        #expect(try store.reader.texts("SELECT last_error FROM enrichment_queue WHERE seq = 2") == ["CircleCI answered 503"])
        try store.close()
    }

    /// `report queue` against a computation of its own: 40 jobs of two names on two resource
    /// classes with random queue times, some not enriched.
    @Test func theQueueReportAgreesWithAnIndependentComputation() async throws {
        let (store, _) = try makeStore()
        var generator = SeededGenerator(seed: 16)
        var expected: [String: [Double]] = [:]
        for index in 0..<40 {
            let name = index % 2 == 0 ? "lint" : "test"
            let resourceClass = index % 3 == 0 ? "large" : "medium"
            _ = try await store.receive(Fixtures.jobCompleted(id: "e\(index)", jobID: "j\(index)", number: index, name: name))
            guard index % 5 != 4 else { continue }  // never enriched: no queue time
            let waited = Int64.random(in: 0...90_000, using: &generator)  // milliseconds
            let started = Self.time("2024-03-05T10:11:28.841Z")
            let details = JobDetails(
                jobID: "j\(index)",
                queuedAt: Timestamp(microseconds: started.microseconds - waited * 1000),
                resourceClass: resourceClass
            )
            try await store.store(JobEnrichment(jobID: "j\(index)", outcome: .enriched(details, tests: [])), dequeuing: nil)
            expected[resourceClass, default: []].append(Double(waited) / 1000)
        }
        var collector = RowCollector()
        try store.reader.queueReport(by: .resourceClass, filter: RunFilter(), into: &collector)
        #expect(collector.columns == ["resource_class", "runs", "mean_s", "p50_s", "p90_s", "p95_s", "p99_s", "max_s"])
        for row in collector.rows {
            guard case .text(let resourceClass) = row[0], let seconds = expected[resourceClass]?.sorted() else {
                Issue.record("unexpected row \(row)")
                continue
            }
            func rank(_ p: Double) -> Double { seconds[Int((p / 100 * Double(seconds.count)).rounded(.up)) - 1] }
            let mean = (seconds.reduce(0, +) / Double(seconds.count) * 1000).rounded() / 1000
            #expect(row[1] == .integer(Int64(seconds.count)))
            #expect(row[2] == .real(mean))
            for (column, p) in zip(3..., [50.0, 90, 95, 99]) {
                guard case .real(let value) = row[column] else {
                    Issue.record("\(row)")
                    continue
                }
                #expect(abs(value - rank(p)) < 0.0015, "p\(p) of \(resourceClass)")
            }
            guard case .real(let max) = row[7] else { continue }
            #expect(abs(max - seconds.last!) < 0.0015)
        }
        #expect(collector.rows.count == 2)
        var byJob = RowCollector()
        try store.reader.queueReport(by: .job, filter: RunFilter(job: "lint"), into: &byJob)
        #expect(byJob.rows.count == 1 && byJob.rows.first?[2] == .integer(16), "20 lint jobs, 4 never enriched")
    }

    @Test func runTimeIsReadAsANumberOrANumericString() throws {
        func runTime(_ json: String) throws -> Double? {
            APIRecords.testResult(try JSONValue(parsing: Array(#"{"name":"t","run_time":\#(json)}"#.utf8))).runTimeSeconds
        }
        #expect(try runTime("0.5") == 0.5)
        #expect(try runTime("2") == 2)
        #expect(try runTime(#""1.25""#) == 1.25)
        #expect(try runTime(#""soon""#) == nil)
        #expect(try runTime("null") == nil)
        let details = APIRecords.jobDetails(
            try JSONValue(
                parsing: Array(#"{"queued_at":"2024-01-01T00:00:00Z","executor":{"resource_class":"medium","type":"docker"},"parallelism":4}"#.utf8)
            ),
            jobID: "j"
        )
        #expect(
            details
                == JobDetails(
                    jobID: "j",
                    queuedAt: Self.time("2024-01-01T00:00:00Z"),
                    resourceClass: "medium",
                    executorType: "docker",
                    parallelism: 4
                )
        )
    }
}
