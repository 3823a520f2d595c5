import ArchiveModel
import ArchiveStore
import Synchronization

/// Counts of an enrichment run, for progress lines and the summary.
public struct EnrichmentCounts: Sendable, Equatable {
    public var enriched = 0
    /// CircleCI answered 404 for the job: its data is past CircleCI's retention.
    public var unavailable = 0
    /// Fetches that failed after every retry; the job stays queued for later.
    public var postponed = 0
    public var tests = 0
    public var requests = 0

    public init() {}
}

/// Fetches what webhooks leave out of a job (its details and its test results) from CircleCI's
/// API v2 and stores it, for every job due in `enrichment_queue`, `concurrency` jobs at a time.
///
/// Per job: `GET /project/{slug}/job/{number}`, then `GET /project/{slug}/{number}/tests` page by
/// page (1 + ceil(tests / page size) requests). A 404 for the details marks the job unavailable
/// (CircleCI deleted it); a 404 for the tests alone means it stored none. A job whose fetch fails
/// after every retry stays queued, due again later, and the others go on; 401 or 403 stops the run
/// with the error and keeps the queue as it is.
public final class Enricher: Sendable {
    private let store: ArchiveStore
    private let client: CircleCIClient
    private let concurrency: Int
    private let counts = Mutex(EnrichmentCounts())
    private let onEvent: @Sendable (EnrichmentCounts) -> Void

    /// How long a job whose fetch failed waits before the next try: doubling per attempt from a
    /// minute, up to a day.
    static func retryDelay(afterAttempts attempts: Int) -> Duration {
        min(.seconds(60) * (1 << min(attempts, 11)), .seconds(86_400))
    }

    public init(store: ArchiveStore, connection: APIConnection, onProgress: @escaping @Sendable (EnrichmentCounts) -> Void = { _ in }) {
        self.store = store
        concurrency = max(1, connection.concurrency)
        onEvent = onProgress
        client = CircleCIClient(connection)
    }

    /// Enriches every job due now, until none is; returns the totals. Jobs that become due later
    /// (postponed ones) are left for the next run.
    public func drain() async throws(BackfillError) -> EnrichmentCounts {
        do {
            try await drainQueue()
        } catch {
            await shutdown()
            throw error
        }
        await shutdown()
        return snapshot()
    }

    /// Enriches every job due now, keeping the HTTP client for the next call: for a server that
    /// enriches as jobs arrive. Call `shutdown()` once done.
    public func enrichDue() async throws(BackfillError) -> EnrichmentCounts {
        try await drainQueue()
        return snapshot()
    }

    /// Closes the HTTP client.
    public func shutdown() async {
        await client.shutdown()
    }

    private func drainQueue() async throws(BackfillError) {
        while true {
            let due: [QueuedJob]
            do {
                due = try store.queuedForEnrichment(limit: 64)
            } catch {
                throw .store(error)
            }
            if due.isEmpty || Task.isCancelled { return }
            try await enrich(due)
        }
    }

    private func snapshot() -> EnrichmentCounts {
        var current = counts.withLock { $0 }
        current.requests = client.requests.load(ordering: .relaxed)
        return current
    }

    /// Enriches `jobs`, at most `concurrency` at a time.
    private func enrich(_ jobs: [QueuedJob]) async throws(BackfillError) {
        _ = try await concurrentMap(jobs, limit: concurrency) { job throws(BackfillError) in try await self.enrich(job) }
    }

    /// Fetches and stores one job; a fetch that fails for this job alone postpones it.
    private func enrich(_ job: QueuedJob) async throws(BackfillError) {
        let enrichment: JobEnrichment
        do {
            enrichment = try await fetch(job)
        } catch let error where [BackfillError.Code.unauthorized, .cancelled, .store].contains(error.code) {
            throw error
        } catch {
            // Transient after every retry, or CircleCI refused this one job: later, not now.
            do {
                let retryAt = Timestamp.now().adding(Self.retryDelay(afterAttempts: job.attempts))
                try await store.postponeEnrichment(of: job, until: retryAt, error: error.message)
            } catch {
                throw .store(error)
            }
            counts.withLock { $0.postponed += 1 }
            return
        }
        try await stored(enrichment, of: job)
        counts.withLock { counts in
            switch enrichment.outcome {
            case .enriched(_, let tests):
                counts.enriched += 1
                counts.tests += tests.count
            case .unavailable:
                counts.unavailable += 1
            }
        }
        onEvent(snapshot())
    }

    /// The job's details and every page of its tests. A 404 for the details: CircleCI no longer
    /// has the job; for the tests alone: it stored none.
    private func fetch(_ job: QueuedJob) async throws(BackfillError) -> JobEnrichment {
        let jobPath = "/project/" + CircleCIClient.escapePath(job.projectSlug)
        let details: JobDetails
        do {
            details = APIRecords.jobDetails(try await client.get(jobPath + "/job/\(job.jobNumber)"), jobID: job.jobID)
        } catch let error where error.code == .notFound {
            return JobEnrichment(jobID: job.jobID, outcome: .unavailable)
        }
        var tests: [JSONValue] = []
        do {
            tests = try await client.allItems(jobPath + "/\(job.jobNumber)/tests")
        } catch let error where error.code == .notFound {
            tests = []
        }
        return JobEnrichment(jobID: job.jobID, outcome: .enriched(details, tests: tests.map(APIRecords.testResult)))
    }

    private func stored(_ enrichment: JobEnrichment, of job: QueuedJob) async throws(BackfillError) {
        do {
            try await store.store(enrichment, dequeuing: job)
        } catch {
            throw .store(error)
        }
    }
}
