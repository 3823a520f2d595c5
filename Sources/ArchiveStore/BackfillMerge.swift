import ArchiveModel
import GRDB

/// How far backfill got for one project and branch filter; see `backfill_progress` in migrations.
public struct BackfillProgress: Sendable, Equatable {
    public var projectSlug: String
    /// "" for all branches.
    public var branch: String
    /// Every pipeline created in `coveredFrom...coveredTo` was fetched; `coveredFrom` is nil once
    /// the walk reached the project's first pipeline.
    public var coveredFrom: Timestamp?
    public var coveredTo: Timestamp
    /// Fetches the page holding the pipelines just below `coveredFrom`; nil: the newest page.
    public var pageToken: String?

    public init(projectSlug: String, branch: String, coveredFrom: Timestamp?, coveredTo: Timestamp, pageToken: String?) {
        self.projectSlug = projectSlug
        self.branch = branch
        self.coveredFrom = coveredFrom
        self.coveredTo = coveredTo
        self.pageToken = pageToken
    }
}

/// What one page of a backfill adds, committed in one transaction with the progress it makes, so
/// an interrupted backfill resumes exactly after the last page it stored.
public struct BackfillBatch: Sendable {
    public var organization: OrganizationRecord?
    public var project: ProjectRecord
    public var pipelines: [BackfilledPipeline]
    public var progress: BackfillProgress?
    /// When the API was asked: the ordering key of whatever may still change.
    public var fetchedAt: Timestamp

    public init(
        organization: OrganizationRecord?,
        project: ProjectRecord,
        pipelines: [BackfilledPipeline],
        progress: BackfillProgress?,
        fetchedAt: Timestamp
    ) {
        self.organization = organization
        self.project = project
        self.pipelines = pipelines
        self.progress = progress
        self.fetchedAt = fetchedAt
    }

    /// Ordering keys (see `EntityTable`): the time each record describes, so that a webhook about
    /// the same run, which happens when it stops, is newer. A finished run is keyed by its
    /// `stopped_at`; a pipeline, whose fields never change, by its `created_at`; the organization,
    /// the project and anything still running by the fetch time.
    func addRecords(to upserts: inout EntityUpserts) {
        func key(_ time: Timestamp?) -> String { (time ?? fetchedAt).iso8601Microseconds + " api" }
        func runKey(status: String?, stoppedAt: Timestamp?) -> String {
            key(RunStatus.terminal.contains(status ?? "") ? stoppedAt : nil)
        }
        upserts.add(organization, key: key(nil))
        upserts.add(project, key: key(nil))
        for fetched in pipelines {
            upserts.add(fetched.pipeline, key: key(fetched.pipeline.createdAt))
            for workflow in fetched.workflows { upserts.add(workflow, key: runKey(status: workflow.status, stoppedAt: workflow.stoppedAt)) }
            for job in fetched.jobs { upserts.add(job, key: runKey(status: job.status, stoppedAt: job.stoppedAt)) }
        }
    }
}

extension ArchiveStore {
    /// Merges a backfill page into the entity tables, with the same rules as webhook events, and
    /// records its progress, in one transaction.
    public func merge(_ batch: BackfillBatch) async throws(StoreError) {
        do {
            try await pool.write { [context] db in
                var upserts = EntityUpserts()
                batch.addRecords(to: &upserts)
                for upsert in upserts.upserts { try context.statements.upsert(upsert, in: db) }
                let fetchedAt = batch.fetchedAt.iso8601
                for fetched in batch.pipelines {
                    let row = BackfilledPipelineRow(
                        pipelineID: fetched.pipeline.id,
                        projectSlug: batch.project.slug ?? "",
                        createdAt: fetched.pipeline.createdAt?.iso8601 ?? fetchedAt,
                        finished: fetched.isFinished(at: batch.fetchedAt),
                        fetchedAt: fetchedAt
                    )
                    try db.cachedStatement(sql: Tables.recordBackfilledPipeline).execute(arguments: Tables.backfilledPipelines.arguments(row))
                }
                if let progress = batch.progress {
                    let row = BackfillProgressRow(progress: progress, updatedAt: batch.fetchedAt)
                    try db.cachedStatement(sql: Tables.saveBackfillProgress).execute(arguments: Tables.backfillProgress.arguments(row))
                }
            }
            afterCommit()
        } catch {
            throw StoreError(.unavailable, "cannot store backfilled runs: \(describe(error))", cause: error)
        }
    }

    /// The progress of earlier backfills of `projectSlug` with this branch filter.
    public func backfillProgress(projectSlug: String, branch: String) throws(StoreError) -> BackfillProgress? {
        try readForBackfill { db in
            guard let row = try Row.fetchOne(db, sql: Tables.loadBackfillProgress, arguments: [projectSlug, branch]) else { return nil }
            let coveredFrom: String = row["covered_from"]
            let coveredTo: String = row["covered_to"]
            return BackfillProgress(
                projectSlug: projectSlug,
                branch: branch,
                coveredFrom: Timestamp(iso8601: coveredFrom),
                coveredTo: Timestamp(iso8601: coveredTo) ?? Timestamp(microseconds: 0),
                pageToken: row["page_token"]
            )
        }
    }

    /// Which of `pipelineIDs` an earlier backfill fetched finished, so they need no request.
    public func finishedBackfilledPipelines(among pipelineIDs: [String]) throws(StoreError) -> Set<String> {
        guard !pipelineIDs.isEmpty else { return [] }
        return try readForBackfill { db in
            let placeholders = Array(repeating: "?", count: pipelineIDs.count).joined(separator: ", ")
            return Set(
                try String.fetchAll(
                    db,
                    sql: "SELECT pipeline_id FROM backfilled_pipelines WHERE finished = 1 AND pipeline_id IN (\(placeholders))",
                    arguments: StatementArguments(pipelineIDs)
                )
            )
        }
    }

    /// Pipelines of `projectSlug` created since `since` that were still running when backfill
    /// last fetched them, oldest first: the next run fetches them again. Each record holds what
    /// merging needs (id, project, created_at); its other values are already stored.
    public func unfinishedBackfilledPipelines(projectSlug: String, projectID: String, since: Timestamp) throws(StoreError) -> [PipelineRecord] {
        try readForBackfill { db in
            try Row.fetchAll(db, sql: Tables.unfinishedBackfilledPipelines, arguments: [projectSlug, since.iso8601]).map { row in
                PipelineRecord(id: row["pipeline_id"], projectID: projectID, createdAt: Timestamp(iso8601: row["created_at"] as String), source: .api)
            }
        }
    }

    private func readForBackfill<T>(_ read: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.read(read)
        } catch {
            throw StoreError(.unavailable, "cannot read backfill progress: \(describe(error))", cause: error)
        }
    }
}

/// What backfill reads of its own progress.
extension Tables {
    static let loadBackfillProgress = """
        SELECT covered_from, covered_to, page_token FROM backfill_progress WHERE project_slug = ? AND branch = ?
        """

    static let unfinishedBackfilledPipelines = """
        SELECT pipeline_id, created_at FROM backfilled_pipelines
        WHERE project_slug = ? AND finished = 0 AND created_at >= ? ORDER BY created_at
        """
}
