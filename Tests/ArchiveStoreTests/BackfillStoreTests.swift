import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// The storage side of backfill: API responses become the records webhooks produce, and merge by
/// the same newest-wins rules.
@Suite struct BackfillStoreTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    /// The fixture job's pipeline as the API describes it, fetched at `fetchedAt`.
    static func batch(
        job: String = APIFixtures.job(),
        workflow: String = APIFixtures.workflow(),
        fetchedAt: String = "2024-03-06T00:00:00Z",
        progress: BackfillProgress? = nil
    ) throws -> BackfillBatch {
        let (organization, project) = try #require(APIRecords.project(try json(APIFixtures.project)))
        let pipeline = try #require(APIRecords.pipeline(try json(APIFixtures.pipeline()), projectID: project.id))
        let workflowRecord = try #require(
            APIRecords.workflow(try json(workflow), projectID: project.id, appURL: APIRecords.cloudAppURL(projectSlug: APIFixtures.projectSlug))
        )
        let jobRecords = [try APIRecords.job(try json(job), workflowID: workflowRecord.id, pipelineID: pipeline.id, projectID: project.id)]
            .compactMap { $0 }
        return BackfillBatch(
            organization: organization,
            project: project,
            pipelines: [BackfilledPipeline(pipeline: pipeline, workflows: [workflowRecord], jobs: jobRecords)],
            progress: progress,
            fetchedAt: try #require(Timestamp(iso8601: fetchedAt))
        )
    }

    static let comparedColumns = """
        SELECT j.id, j.number, j.name, j.status, j.started_at, j.stopped_at, j.workflow_id, j.pipeline_id, j.project_id, j.source,
               w.name, w.status, w.created_at, w.stopped_at, w.url, w.source,
               p.number, p.created_at, p.trigger_type, p.vcs_provider_name, p.vcs_revision, p.vcs_branch, p.commit_subject,
               p.commit_body, p.source, pr.slug, pr.name, o.name
        FROM jobs j JOIN workflows w ON w.id = j.workflow_id JOIN pipelines p ON p.id = j.pipeline_id
        JOIN projects pr ON pr.id = j.project_id JOIN organizations o ON o.id = pr.organization_id
        """

    static func rows(_ store: ArchiveStore) throws -> [[SQLValue]] {
        var rows = RowCollector()
        try store.reader.query(comparedColumns, into: &rows)
        return rows.rows
    }

    @Test func aBackfilledJobAndItsWebhooksAgreeInEitherOrder() async throws {
        let (first, _) = try makeStore()
        try await first.merge(try Self.batch())
        _ = try await first.receive(Fixtures.jobCompleted())
        _ = try await first.receive(Fixtures.workflowCompleted())
        let (second, _) = try makeStore()
        _ = try await second.receive(Fixtures.workflowCompleted())
        _ = try await second.receive(Fixtures.jobCompleted())
        try await second.merge(try Self.batch())
        let (webhooksOnly, _) = try makeStore()
        _ = try await webhooksOnly.receive(Fixtures.jobCompleted())
        _ = try await webhooksOnly.receive(Fixtures.workflowCompleted())

        let merged = try Self.rows(first)
        #expect(merged.count == 1)
        #expect(merged == (try Self.rows(second)))
        // The webhooks happened after the run stopped, so their values and their source stand;
        // backfill only filled what they lack (none here), and the constructed link is the same.
        #expect(merged == (try Self.rows(webhooksOnly)))
        #expect(try first.reader.value("SELECT source FROM jobs") == .text("webhook"))
        // The commit's author is not in the API's pipeline; the webhook's stays.
        #expect(try first.reader.value("SELECT commit_author_name FROM pipelines") == .text("Ada Lovelace"))
    }

    @Test func backfillAloneGivesTheSameRunAsItsWebhooks() async throws {
        let (store, _) = try makeStore()
        try await store.merge(try Self.batch())
        let row = try #require(try Self.rows(store).first)
        let (webhooksOnly, _) = try makeStore()
        _ = try await webhooksOnly.receive(Fixtures.jobCompleted())
        _ = try await webhooksOnly.receive(Fixtures.workflowCompleted())
        let webhookRow = try #require(try Self.rows(webhooksOnly).first)
        // Equal except where they say where they came from.
        let sources: Set<Int> = [9, 15, 24]
        for (index, (backfilled, webhook)) in zip(row, webhookRow).enumerated() where !sources.contains(index) {
            #expect(backfilled == webhook, "column \(index)")
        }
        #expect(sources.map { row[$0] } == [.text("api"), .text("api"), .text("api")])
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(0), "backfill archives no events")
    }

    @Test func aRunningJobIsCompletedByItsWebhook() async throws {
        let (store, _) = try makeStore()
        let running = APIFixtures.job(status: "running", stoppedAt: nil)
        let runningWorkflow = APIFixtures.workflow(status: "running", stoppedAt: nil)
        // Fetched while the job ran, between its start and its end.
        let batch = try Self.batch(job: running, workflow: runningWorkflow, fetchedAt: "2024-03-05T10:12:00Z")
        #expect(!batch.pipelines[0].isFinished(at: batch.fetchedAt))
        try await store.merge(batch)
        #expect(try store.reader.value("SELECT status || ' ' || source FROM jobs") == .text("running api"))
        _ = try await store.receive(Fixtures.jobCompleted())
        _ = try await store.receive(Fixtures.workflowCompleted())
        #expect(
            try store.reader.value("SELECT status || ' ' || stopped_at || ' ' || source FROM jobs")
                == .text("success 2024-03-05T10:12:34.170Z webhook")
        )
        #expect(try store.reader.value("SELECT status FROM workflows") == .text("success"))
        // And a webhook that came first is not undone by a backfill of the running state fetched before it.
        let (other, _) = try makeStore()
        _ = try await other.receive(Fixtures.jobCompleted())
        try await other.merge(batch)
        #expect(try other.reader.value("SELECT status FROM jobs") == .text("success"))
    }

    @Test func approvalJobsAreSkippedAndGitLabPipelinesReadTheirTriggerParameters() throws {
        #expect(APIRecords.job(try Self.json(APIFixtures.job(type: "approval")), workflowID: "w", pipelineID: "p", projectID: "r") == nil)
        let gitlab = try #require(
            APIRecords.pipeline(
                try Self.json(APIFixtures.gitlabPipeline(id: "g1", number: 7, createdAt: "2024-04-13T11:10:18.804Z")),
                projectID: "r"
            )
        )
        #expect(gitlab.vcsProviderName == "gitlab" && gitlab.vcsBranch == "release" && gitlab.vcsRevision == "c0ffee00")
        #expect(gitlab.commitSubject == "Bump version" && gitlab.commitBody == "Release 1.2.0" && gitlab.commitAuthorName == "Grace Hopper")
        #expect(APIRecords.cloudAppURL(projectSlug: "circleci/DdaVtNus/6EkDPZoN") == "https://app.circleci.com/pipelines/circleci/DdaVtNus/6EkDPZoN")
        #expect(APIRecords.cloudAppURL(projectSlug: "bb/acme/widgets") == "https://app.circleci.com/pipelines/bitbucket/acme/widgets")
    }

    @Test func progressAndFinishedPipelinesAreRemembered() async throws {
        let (store, _) = try makeStore()
        #expect(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "") == nil)
        let progress = BackfillProgress(
            projectSlug: APIFixtures.projectSlug,
            branch: "",
            coveredFrom: Timestamp(iso8601: "2024-03-01T00:00:00Z"),
            coveredTo: try #require(Timestamp(iso8601: "2024-03-05T10:10:03.544Z")),
            pageToken: "next-page"
        )
        try await store.merge(try Self.batch(progress: progress))
        #expect(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "") == progress)
        #expect(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "main") == nil)
        #expect(try store.finishedBackfilledPipelines(among: [Fixtures.pipelineID, "other"]) == [Fixtures.pipelineID])

        // A pipeline fetched while running is listed for the next run until it is fetched finished.
        let running = APIFixtures.workflow(status: "on_hold", stoppedAt: nil)
        try await store.merge(try Self.batch(job: APIFixtures.job(status: "queued", startedAt: nil, stoppedAt: nil), workflow: running))
        let since = try #require(Timestamp(iso8601: "2024-03-01T00:00:00Z"))
        #expect(
            try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: since).map(\.id) == [
                Fixtures.pipelineID
            ]
        )
        #expect(try store.finishedBackfilledPipelines(among: [Fixtures.pipelineID]).isEmpty)
        try await store.merge(try Self.batch())
        #expect(try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: since).isEmpty)
    }
}
