import ArchiveModel
import GRDB

/// A job waiting in `enrichment_queue`: what the API needs to ask about it, and its place in
/// the queue.
public struct QueuedJob: Sendable, Equatable {
    /// The queue row's key: storing or postponing the job finds its row by it.
    public var seq: Int64
    public var jobID: String
    public var projectSlug: String
    public var jobNumber: Int64
    /// Failed fetches so far; the next waits longer.
    public var attempts: Int

    public init(seq: Int64, jobID: String, projectSlug: String, jobNumber: Int64, attempts: Int = 0) {
        self.seq = seq
        self.jobID = jobID
        self.projectSlug = projectSlug
        self.jobNumber = jobNumber
        self.attempts = attempts
    }
}

/// What enrichment learned of one job, stored in one transaction (see `ArchiveStore.store(_:)`).
public struct JobEnrichment: Sendable {
    public enum Outcome: Sendable {
        /// The details, and every test result (none when the job stored no tests).
        case enriched(JobDetails, tests: [TestResult])
        /// CircleCI answered 404: the job's data is past its retention. Not asked about again.
        case unavailable
    }

    public var jobID: String
    public var outcome: Outcome
    public var fetchedAt: Timestamp

    public init(jobID: String, outcome: Outcome, fetchedAt: Timestamp = .now()) {
        self.jobID = jobID
        self.outcome = outcome
        self.fetchedAt = fetchedAt
    }

    /// `enrichment_status` as stored.
    var status: String {
        if case .enriched = outcome { "enriched" } else { "unavailable" }
    }
}

/// A row of `test_results`: a job's test, at its position in CircleCI's list.
struct TestResultRow {
    let jobID: String
    let position: Int64
    let test: TestResult
}

/// The enrichment columns of `jobs`, written by their own UPDATE: webhook and backfill upserts
/// never touch them, so the two writers cannot undo each other.
struct JobDetailsRow {
    let enrichment: JobEnrichment
    var details: JobDetails? {
        if case .enriched(let details, _) = enrichment.outcome { details } else { nil }
    }
}

extension Tables {
    static let jobDetails = Table<JobDetailsRow>(
        "jobs",
        [
            Column("queued_at") { .init($0.details?.queuedAt) },
            Column("resource_class") { .init($0.details?.resourceClass) },
            Column("executor_type") { .init($0.details?.executorType) },
            Column("parallelism") { .init($0.details?.parallelism) },
            Column("enriched_at") { .init($0.enrichment.fetchedAt) },
            Column("enrichment_status") { .init($0.enrichment.status) },
        ]
    )

    static let updateJobDetails = jobDetails.updateSQL(where: "id = ?")

    static let testResults = Table<TestResultRow>(
        "test_results",
        [
            Column("job_id") { .init($0.jobID) },
            Column("position") { .integer($0.position) },
            Column("classname") { .init($0.test.classname) },
            Column("name") { .init($0.test.name) },
            Column("file") { .init($0.test.file) },
            Column("result") { .init($0.test.result) },
            Column("run_time_seconds") { $0.test.runTimeSeconds.map(SQLValue.real) ?? .null },
            Column("message") { .init($0.test.message) },
            Column("source") { .init($0.test.source) },
        ]
    )

    static let insertTestResult = testResults.insertSQL("")

    /// Jobs waiting for enrichment, in the order queued (`seq`, which SQLite assigns); `attempts`
    /// and `last_error` record failed fetches.
    static let enrichmentQueue = Table<QueueEntry>(
        "enrichment_queue",
        keptBySQLite: ["seq", "attempts", "last_error"],
        [
            Column("job_id") { .init($0.jobID) },
            Column("project_slug") { .init($0.projectSlug) },
            Column("job_number") { .integer($0.jobNumber) },
            Column("queued_at") { .init($0.queuedAt) },
            // Due at once.
            Column("next_attempt_at") { .init($0.queuedAt) },
        ]
    )

    /// An append: callers queue a job once (see `QueueEntry`); a job queued twice anyway is
    /// fetched twice, and the second store replaces the first.
    static let enqueue = enrichmentQueue.insertSQL("")
}

/// A row of `enrichment_queue` as it is first written.
struct QueueEntry {
    let jobID: String
    let projectSlug: String
    let jobNumber: Int64
    let queuedAt: String

    init(jobID: String, projectSlug: String, jobNumber: Int64, queuedAt: String) {
        self.jobID = jobID
        self.projectSlug = projectSlug
        self.jobNumber = jobNumber
        self.queuedAt = queuedAt
    }

    /// The job a `job-completed` event completes, when the API can be asked about it: it has a
    /// number and its project a slug. The ingest path asks only for an event that completes its
    /// job for the first time, so a job is queued once however many events describe it.
    init?(completedBy event: WebhookEvent, receivedAt: String) {
        guard event.type == "job-completed", let job = event.job, let number = job.number, let slug = event.project?.slug else {
            return nil
        }
        self.init(jobID: job.id, projectSlug: slug, jobNumber: number, queuedAt: receivedAt)
    }
}

extension ArchiveStore {
    /// Stores what enrichment learned of a job, in one transaction: its details (or that it is
    /// unavailable), its tests replacing any stored before, and the removal of `queued`, the queue
    /// row it was fetched for (nil when it was fetched without the queue).
    public func store(_ enrichment: JobEnrichment, dequeuing queued: QueuedJob?) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.cachedStatement(sql: Tables.updateJobDetails).execute(
                    arguments: Tables.jobDetails.arguments(JobDetailsRow(enrichment: enrichment)) + [enrichment.jobID]
                )
                try db.cachedStatement(sql: "DELETE FROM test_results WHERE job_id = ?").execute(arguments: [enrichment.jobID])
                if case .enriched(_, let tests) = enrichment.outcome {
                    let insert = try db.cachedStatement(sql: Tables.insertTestResult)
                    for (position, test) in tests.enumerated() {
                        try insert.execute(
                            arguments: Tables.testResults.arguments(TestResultRow(jobID: enrichment.jobID, position: Int64(position), test: test))
                        )
                    }
                }
                if let queued {
                    try db.cachedStatement(sql: "DELETE FROM enrichment_queue WHERE seq = ?").execute(arguments: [queued.seq])
                }
            }
            afterCommit()
        } catch {
            throw StoreError(.unavailable, "cannot store the enrichment of job \(enrichment.jobID): \(describe(error))", cause: error)
        }
    }
}

extension ArchiveStore {
    /// Jobs waiting in the enrichment queue, due or not.
    public func enrichmentQueueLength() throws(StoreError) -> Int {
        do {
            return try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM enrichment_queue") ?? 0 }
        } catch {
            throw StoreError(.unavailable, "cannot read the enrichment queue: \(describe(error))", cause: error)
        }
    }

    /// Jobs due for enrichment (`next_attempt_at` reached), oldest first, at most `limit`.
    public func queuedForEnrichment(limit: Int, now: Timestamp = .now()) throws(StoreError) -> [QueuedJob] {
        do {
            return try pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT seq, job_id, project_slug, job_number, attempts FROM enrichment_queue
                        WHERE next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?
                        """,
                    arguments: [now.iso8601, limit]
                ).map { row in
                    QueuedJob(
                        seq: row["seq"],
                        jobID: row["job_id"],
                        projectSlug: row["project_slug"],
                        jobNumber: row["job_number"],
                        attempts: row["attempts"]
                    )
                }
            }
        } catch {
            throw StoreError(.unavailable, "cannot read the enrichment queue: \(describe(error))", cause: error)
        }
    }

    /// Keeps a job queued after a failed fetch, due again at `retryAt`, with what went wrong.
    public func postponeEnrichment(of job: QueuedJob, until retryAt: Timestamp, error message: String) async throws(StoreError) {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE enrichment_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE seq = ?",
                    arguments: [retryAt.iso8601, message, job.seq]
                )
            }
        } catch {
            throw StoreError(.unavailable, "cannot postpone the enrichment of job \(job.jobID): \(describe(error))", cause: error)
        }
    }

    /// Queues every archived job that was never enriched (no `enrichment_status`) nor is queued,
    /// has a number and a project slug, and completed at or after `since` in one of `projects`
    /// (all when empty): `circle-archive enrich` for archives built before enrichment, or while
    /// serve had no token. Each is queued through `Tables.enqueue`, like a job serve queues.
    /// Returns how many jobs were newly queued.
    public func queueUnenriched(since: Timestamp?, projects: [String], now: Timestamp = .now()) async throws(StoreError) -> Int {
        // NOT IN: SQLite reads the queue's job ids once, into a temporary index.
        var conditions = [
            "j.enrichment_status IS NULL", "j.number IS NOT NULL", "pr.slug IS NOT NULL", "j.id NOT IN (SELECT job_id FROM enrichment_queue)",
        ]
        var arguments: [String] = []
        if let since {
            conditions.append("j.stopped_at >= ?")
            arguments.append(since.iso8601)
        }
        let slugs = projects.map(ProjectSlug.canonical)
        if !slugs.isEmpty {
            conditions.append("pr.slug IN (\(Array(repeating: "?", count: slugs.count).joined(separator: ", ")))")
            arguments += slugs
        }
        let sql = """
            SELECT j.id, pr.slug, j.number FROM jobs j JOIN projects pr ON pr.id = j.project_id
            WHERE \(conditions.joined(separator: " AND "))
            """
        let values = arguments
        do {
            return try await pool.write { db in
                let enqueue = try db.cachedStatement(sql: Tables.enqueue)
                var queued = 0
                let jobs = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(values))
                while let row = try jobs.next() {
                    let entry = QueueEntry(jobID: row[0], projectSlug: row[1], jobNumber: row[2], queuedAt: now.iso8601)
                    try enqueue.execute(arguments: Tables.enrichmentQueue.arguments(entry))
                    queued += 1
                }
                return queued
            }
        } catch {
            throw StoreError(.unavailable, "cannot queue jobs for enrichment: \(describe(error))", cause: error)
        }
    }
}
