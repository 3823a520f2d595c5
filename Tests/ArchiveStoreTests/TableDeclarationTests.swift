import ArchiveTestSupport
import Foundation
import GRDB
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// The write path's tables are declared once in Swift (`Tables`, `EntityTables.swift`); these
/// tests hold the declarations to the migrated schema, and each column to the value it must hold.
@Suite struct TableDeclarationTests {
    /// Every declared column exists, and every column of the schema is declared (or kept by SQLite).
    /// A table may be declared in parts (the enrichment columns of `jobs` are written by their own
    /// statement); together its declarations name each of its columns once.
    @Test func everyDeclarationMatchesTheMigratedSchema() throws {
        let (store, _) = try makeStore()
        let byTable = Dictionary(grouping: Tables.all, by: \.name).mapValues { $0.flatMap(\.columns) }
        #expect(byTable.count == 11)
        for (name, declared) in byTable {
            let schema = try store.reader.texts("SELECT name FROM pragma_table_info('\(name)') ORDER BY cid")
            #expect(!schema.isEmpty, "\(name) is not in the schema")
            #expect(Set(schema) == Set(declared), "\(name): schema \(schema.sorted()), declared \(declared.sorted())")
            #expect(declared.count == Set(declared).count, "\(name) declares a column twice")
        }
    }

    /// Distinct timestamps, so a swapped pair of time columns shows.
    static func time(_ second: Int) -> Timestamp { Timestamp(iso8601: "2024-01-01T00:00:0\(second).000Z")! }

    /// Reads the one row `sql` returns and compares each column by name with `expected`, which
    /// must name every column: a record whose every text field holds its own column's name comes
    /// back with each name in its place, so a declaration pairing a column with the wrong field fails.
    func expectRow(_ store: ArchiveStore, _ sql: String, _ expected: [String: SQLValue], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var collector = RowCollector()
        try store.reader.query(sql, into: &collector)
        #expect(collector.rows.count == 1, sourceLocation: sourceLocation)
        guard let row = collector.rows.first else { return }
        #expect(Set(collector.columns) == Set(expected.keys), "columns not checked", sourceLocation: sourceLocation)
        for (column, value) in zip(collector.columns, row) where expected[column] != nil {
            #expect(value == expected[column], "\(column)", sourceLocation: sourceLocation)
        }
    }

    /// Each text column's expected value is its own name.
    func named(_ columns: String...) -> [String: SQLValue] {
        Dictionary(uniqueKeysWithValues: columns.map { ($0, .text($0)) })
    }

    @Test func everyEntityColumnHoldsItsOwnField() async throws {
        let (store, _) = try makeStore()
        var upserts = EntityUpserts()
        let key = "2024-01-01T00:00:09.000000Z k"
        upserts.add(OrganizationRecord(id: "id", name: "name"), key: key)
        upserts.add(ProjectRecord(id: "id", slug: "slug", name: "name", organizationID: "organization_id"), key: key)
        upserts.add(
            PipelineRecord(
                id: "id",
                number: 7,
                projectID: "project_id",
                createdAt: Self.time(1),
                triggerType: "trigger_type",
                triggerActorID: "trigger_actor_id",
                vcsProviderName: "vcs_provider_name",
                vcsTargetRepositoryURL: "vcs_target_repository_url",
                vcsOriginRepositoryURL: "vcs_origin_repository_url",
                vcsRevision: "vcs_revision",
                vcsBranch: "vcs_branch",
                vcsTag: "vcs_tag",
                commitSubject: "commit_subject",
                commitBody: "commit_body",
                commitAuthorName: "commit_author_name",
                commitAuthorEmail: "commit_author_email",
                commitAuthoredAt: Self.time(2),
                commitCommitterName: "commit_committer_name",
                commitCommitterEmail: "commit_committer_email",
                commitCommittedAt: Self.time(3),
                source: .api
            ),
            key: key
        )
        upserts.add(
            WorkflowRecord(
                id: "id",
                name: "name",
                pipelineID: "pipeline_id",
                projectID: "project_id",
                status: "status",
                createdAt: Self.time(1),
                stoppedAt: Self.time(2),
                url: "url",
                source: .api
            ),
            key: key
        )
        upserts.add(
            JobRecord(
                id: "id",
                number: 8,
                name: "name",
                status: "status",
                startedAt: Self.time(1),
                stoppedAt: Self.time(2),
                workflowID: "workflow_id",
                pipelineID: "pipeline_id",
                projectID: "project_id",
                source: .api
            ),
            key: key
        )
        let rows = upserts.upserts
        try await store.pool.write { db in
            for upsert in rows { try store.context.statements.upsert(upsert, in: db) }
        }
        let keyed: [String: SQLValue] = ["last_event_key": .text(key)]
        try expectRow(store, "SELECT * FROM organizations", named("id", "name").merging(keyed) { $1 })
        try expectRow(store, "SELECT * FROM projects", named("id", "slug", "name", "organization_id").merging(keyed) { $1 })
        try expectRow(
            store,
            "SELECT * FROM pipelines",
            named(
                "id",
                "project_id",
                "trigger_type",
                "trigger_actor_id",
                "vcs_provider_name",
                "vcs_target_repository_url",
                "vcs_origin_repository_url",
                "vcs_revision",
                "vcs_branch",
                "vcs_tag",
                "commit_subject",
                "commit_body",
                "commit_author_name",
                "commit_author_email",
                "commit_committer_name",
                "commit_committer_email"
            ).merging(keyed) { $1 }.merging([
                "number": .integer(7), "created_at": .text(Self.time(1).iso8601), "commit_authored_at": .text(Self.time(2).iso8601),
                "commit_committed_at": .text(Self.time(3).iso8601), "source": .text("api"),
            ]) { $1 }
        )
        try expectRow(
            store,
            "SELECT * FROM workflows",
            named("id", "name", "pipeline_id", "project_id", "status", "url").merging(keyed) { $1 }.merging([
                "created_at": .text(Self.time(1).iso8601), "stopped_at": .text(Self.time(2).iso8601), "source": .text("api"),
                "status_event_key": .text(key), "stopped_at_event_key": .text(key),
            ]) { $1 }
        )
        try expectRow(
            store,
            "SELECT * FROM jobs",
            named("id", "name", "status", "workflow_id", "pipeline_id", "project_id").merging(keyed) { $1 }.merging([
                "number": .integer(8), "started_at": .text(Self.time(1).iso8601), "stopped_at": .text(Self.time(2).iso8601),
                "source": .text("api"),
            ]) { $1 }.merging(Self.notEnriched) { $1 }
        )
    }

    /// A webhook or backfill upsert leaves the enrichment columns alone.
    static let notEnriched: [String: SQLValue] = [
        "queued_at": .null, "resource_class": .null, "executor_type": .null, "parallelism": .null, "enriched_at": .null,
        "enrichment_status": .null,
    ]

    @Test func everyEnrichmentColumnHoldsItsOwnField() async throws {
        let (store, _) = try makeStore(options: .init(queuesEnrichment: true))
        _ = try await store.receive(Delivery(body: Array(Fixtures.jobCompleted(jobID: "job_id", number: 9).utf8), receivedAt: Self.time(5)))
        try expectRow(
            store,
            "SELECT * FROM enrichment_queue",
            named("job_id").merging([
                "project_slug": .text("gh/acme/widgets"), "job_number": .integer(9), "queued_at": .text(Self.time(5).iso8601),
                "next_attempt_at": .text(Self.time(5).iso8601), "attempts": .integer(0), "last_error": .null, "seq": .integer(1),
            ]) { $1 }
        )
        let queued = try store.queuedForEnrichment(limit: 1, now: Self.time(6))
        let details = JobDetails(
            jobID: "job_id",
            queuedAt: Self.time(1),
            resourceClass: "resource_class",
            executorType: "executor_type",
            parallelism: 3
        )
        let test = TestResult(
            classname: "classname",
            name: "name",
            file: "file",
            result: "result",
            runTimeSeconds: 1.5,
            message: "message",
            source: "source"
        )
        try await store.store(
            JobEnrichment(jobID: "job_id", outcome: .enriched(details, tests: [test]), fetchedAt: Self.time(2)),
            dequeuing: queued.first
        )
        var collector = RowCollector()
        try store.reader.query(
            "SELECT queued_at, resource_class, executor_type, parallelism, enriched_at, enrichment_status FROM jobs",
            into: &collector
        )
        #expect(
            collector.rows == [
                [
                    .text(Self.time(1).iso8601), .text("resource_class"), .text("executor_type"), .integer(3), .text(Self.time(2).iso8601),
                    .text("enriched"),
                ]
            ]
        )
        try expectRow(
            store,
            "SELECT * FROM test_results",
            named("job_id", "classname", "name", "file", "result", "message", "source").merging([
                "position": .integer(0), "run_time_seconds": .real(1.5),
            ]) { $1 }
        )
        #expect(queued == [QueuedJob(seq: 1, jobID: "job_id", projectSlug: "gh/acme/widgets", jobNumber: 9)])
        #expect(try store.reader.texts("SELECT count(*) FROM enrichment_queue") == ["0"])
    }

    @Test func everyEventAndRejectionColumnHoldsItsOwnField() async throws {
        let (store, _) = try makeStore()
        let body = """
            {"id":"id","type":"type","happened_at":"2024-01-01T00:00:01Z","webhook":{"id":"webhook_id","name":"webhook_name"},\
            "organization":{"id":"organization_id"},"project":{"id":"project_id"},"pipeline":{"id":"pipeline_id"},\
            "workflow":{"id":"workflow_id"},"job":{"id":"job_id"}}
            """
        _ = try await store.receive(Delivery(body: Array(body.utf8), receivedAt: Self.time(2)))
        try expectRow(
            store,
            "SELECT * FROM events",
            named("id", "type", "webhook_id", "webhook_name", "organization_id", "project_id", "pipeline_id", "workflow_id", "job_id")
                .merging([
                    "happened_at": .text(Self.time(1).iso8601), "received_at": .text(Self.time(2).iso8601), "payload": .text(body),
                ]) { $1 }
        )

        let bad = Array("{not json".utf8)
        _ = try await store.receive(Delivery(body: bad, headers: [("circleci-event-type", "event_type")], receivedAt: Self.time(3)))
        let digest = try #require(try store.reader.texts("SELECT body_sha256 FROM rejected_deliveries").first)
        #expect(digest.count == 64)
        try expectRow(
            store,
            "SELECT * FROM rejected_deliveries",
            [
                "id": .integer(1), "received_at": .text(Self.time(3).iso8601), "last_received_at": .text(Self.time(3).iso8601),
                "attempts": .integer(1), "reason": .text("invalid JSON at byte 1: expected a string key"), "event_type": .text("event_type"),
                "headers": .text(#"[["circleci-event-type","event_type"]]"#), "body": .blob(bad), "body_sha256": .text(digest),
            ]
        )
    }

    @Test func everyBackfillColumnHoldsItsOwnField() async throws {
        let (store, _) = try makeStore()
        let progress = BackfillProgress(
            projectSlug: "project_slug",
            branch: "branch",
            coveredFrom: Self.time(1),
            coveredTo: Self.time(2),
            pageToken: "page_token"
        )
        let pipeline = PipelineRecord(id: "pipeline_id", createdAt: Self.time(4), source: .api)
        try await store.merge(
            BackfillBatch(
                organization: nil,
                project: ProjectRecord(id: "p", slug: "project_slug"),
                pipelines: [BackfilledPipeline(pipeline: pipeline, workflows: [], jobs: [], runsMissing: true)],
                progress: progress,
                fetchedAt: Self.time(3)
            )
        )
        try expectRow(
            store,
            "SELECT * FROM backfill_progress",
            named("project_slug", "branch", "page_token").merging([
                "covered_from": .text(Self.time(1).iso8601), "covered_to": .text(Self.time(2).iso8601), "updated_at": .text(Self.time(3).iso8601),
            ]) { $1 }
        )
        try expectRow(
            store,
            "SELECT * FROM backfilled_pipelines",
            named("pipeline_id", "project_slug").merging([
                "created_at": .text(Self.time(4).iso8601), "finished": .integer(0), "fetched_at": .text(Self.time(3).iso8601),
            ]) { $1 }
        )
    }
}
