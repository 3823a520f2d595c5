import ArchiveModel
import ArchiveStore
import Synchronization

/// What `circle-archive backfill` was asked to do.
public struct BackfillOptions: Sendable {
    public var connection: APIConnection
    /// In their canonical spelling (`gh/…` for `github/…`, see `ProjectSlug`), each once: backfill
    /// progress is kept per canonical slug, so both spellings resume the same walk.
    public var projectSlugs: [String] {
        didSet { projectSlugs = Self.canonical(projectSlugs) }
    }
    /// Pipelines created before this are not fetched.
    public var since: Timestamp
    /// Only this branch's pipelines (the API's `branch` filter); nil for all.
    public var branch: String?
    private static func canonical(_ slugs: [String]) -> [String] {
        var seen = Set<String>()
        return slugs.map(ProjectSlug.canonical).filter { seen.insert($0).inserted }
    }

    public init(connection: APIConnection, projectSlugs: [String], since: Timestamp, branch: String? = nil) {
        self.connection = connection
        self.projectSlugs = Self.canonical(projectSlugs)
        self.since = since
        self.branch = branch
    }
}

/// Counts of one backfill, for progress lines and the summary.
public struct BackfillCounts: Sendable, Equatable {
    /// Pipelines whose workflows and jobs were fetched.
    public var pipelines = 0
    /// Pipelines whose workflows or jobs CircleCI answered 404 for: stored without them, and
    /// asked about again by the next run.
    public var pipelinesSkipped = 0
    /// Pipelines an earlier run fetched finished, so nothing was asked about them.
    public var pipelinesAlreadyFinished = 0
    public var workflows = 0
    public var jobs = 0
    public var approvalsSkipped = 0
    public var requests = 0
    public var retries = 0

    public init() {}
}

/// Something a person watching a backfill wants to know.
public enum BackfillEvent: Sendable {
    case progress(project: String, counts: BackfillCounts)
    /// `reason` is a sentence: `CircleCI answered 503 Service Unavailable`, `cannot reach circleci.com: …`.
    case retrying(path: String, reason: String, delay: Duration)
    /// CircleCI refused a page token saved by an earlier run (it may have expired).
    case pagingFromNewest(path: String, status: Int)
    /// CircleCI answered 404 for `path`, a pipeline's workflows or a workflow's jobs: the pipeline
    /// is skipped for this run and asked about again by the next; the backfill goes on.
    case skipped(pipelineNumber: Int64?, path: String)
}

/// Walks CircleCI's API v2 for each project, newest pipeline first, and merges what it finds into
/// the archive through `ArchiveStore.merge`, one page of pipelines per transaction together with
/// the progress that page makes (see `backfill_progress` in migrations/0003_backfill.sql):
///
/// 1. Pipelines an earlier run left unfinished (running, queued, on hold) are fetched again.
/// 2. From the newest page down to the newest pipeline earlier runs covered: everything new.
/// 3. If the covered range does not reach `since` yet (an interrupted run, or a longer `since`),
///    from the saved page token on down to `since`, without paging through the covered range.
///
/// A pipeline fetched finished is never asked about again; an interrupted run loses at most the
/// page it was on (see `PipelineWalk` for the one case where list pages are asked for again).
public final class Backfiller: Sendable {
    private let store: ArchiveStore
    private let options: BackfillOptions
    private let client: CircleCIClient
    private let onEvent: @Sendable (BackfillEvent) -> Void
    private let counts = Mutex(BackfillCounts())

    public init(store: ArchiveStore, options: BackfillOptions, onEvent: @escaping @Sendable (BackfillEvent) -> Void = { _ in }) {
        self.store = store
        self.options = options
        self.onEvent = onEvent
        client = CircleCIClient(options.connection) { path, reason, delay in onEvent(.retrying(path: path, reason: reason, delay: delay)) }
    }

    /// Backfills every project in turn; returns the totals, or throws at the first project that fails
    /// (what it stored until then stays, with its progress).
    public func run() async throws(BackfillError) -> BackfillCounts {
        do {
            for slug in options.projectSlugs {
                try await backfill(projectSlug: slug)
            }
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        return snapshot()
    }

    private func snapshot() -> BackfillCounts {
        var current = counts.withLock { $0 }
        current.requests = client.requests.load(ordering: .relaxed)
        current.retries = client.retries.load(ordering: .relaxed)
        return current
    }

    private func backfill(projectSlug slug: String) async throws(BackfillError) {
        let projectPath = "/project/" + CircleCIClient.escapePath(slug)
        let document = try await client.get(projectPath)
        guard let (organization, project) = APIRecords.project(document) else {
            throw .invalidResponse(path: projectPath, reason: "no project id")
        }
        let context = ProjectContext(
            slug: slug,
            organization: organization,
            project: project,
            appURL: options.connection.url == APIConnection.defaultURL ? APIRecords.cloudAppURL(projectSlug: slug) : nil
        )
        let branch = options.branch ?? ""

        // 1. What earlier runs saw running.
        let unfinished = try stored { () throws(StoreError) in
            try store.unfinishedBackfilledPipelines(projectSlug: slug, projectID: project.id, since: options.since)
        }
        for chunk in stride(from: 0, to: unfinished.count, by: 20).map({ Array(unfinished[$0..<min($0 + 20, unfinished.count)]) }) {
            try await commit(try await fetchRuns(of: chunk, in: context), context: context, progress: nil, fetchedAt: Timestamp.now())
        }

        // 2 and 3. The pipeline list, newest first (see `PipelineWalk`).
        let earlier = try stored { () throws(StoreError) in try store.backfillProgress(projectSlug: slug, branch: branch) }
        var walk = PipelineWalk(projectSlug: slug, branch: branch, since: options.since, earlier: earlier)
        let pipelinesPath = projectPath + "/pipeline"
        while !walk.isDone {
            let fetchedAt = Timestamp.now()
            var query: [(String, String)] = []
            if let branch = options.branch { query.append(("branch", branch)) }
            if let token = walk.pageToken { query.append(("page-token", token)) }
            let page: JSONValue
            do {
                page = try await client.get(pipelinesPath, query: query)
            } catch let error where error.code == .refused && walk.usesSavedToken {
                // A page token kept from an earlier run may have expired: page down from the
                // newest page instead, skipping what is covered. Slower, never wrong.
                onEvent(.pagingFromNewest(path: error.path ?? pipelinesPath, status: error.status ?? 400))
                walk.forgetSavedToken()
                continue
            }
            guard let items = page["items"]?.elements else { throw .invalidResponse(path: pipelinesPath, reason: "no items") }
            let pipelines = items.compactMap { APIRecords.pipeline($0, projectID: project.id) }
            let next = page["next_page_token"]?.string.flatMap { $0.isEmpty ? nil : $0 }
            let (selected, progress) = walk.take(pipelines, next: next, fetchedAt: fetchedAt)
            let finished = try stored { () throws(StoreError) in try store.finishedBackfilledPipelines(among: selected.map(\.id)) }
            counts.withLock { $0.pipelinesAlreadyFinished += finished.count }
            let runs = try await fetchRuns(of: selected.filter { !finished.contains($0.id) }, in: context)
            try await commit(runs, context: context, progress: progress, fetchedAt: fetchedAt)
        }
    }

    /// The project and how its links are made, shared by every page.
    private struct ProjectContext: Sendable {
        let slug: String
        let organization: OrganizationRecord?
        let project: ProjectRecord
        let appURL: String?
    }

    private func commit(
        _ runs: [BackfilledPipeline],
        context: ProjectContext,
        progress: BackfillProgress?,
        fetchedAt: Timestamp
    )
        async throws(BackfillError)
    {
        do {
            try await store.merge(
                BackfillBatch(
                    organization: context.organization,
                    project: context.project,
                    pipelines: runs,
                    progress: progress,
                    fetchedAt: fetchedAt
                )
            )
        } catch {
            throw .store(error)
        }
        counts.withLock { counts in
            counts.pipelines += runs.count { !$0.runsMissing }
            counts.workflows += runs.reduce(0) { $0 + $1.workflows.count }
            counts.jobs += runs.reduce(0) { $0 + $1.jobs.count }
        }
        onEvent(.progress(project: context.slug, counts: snapshot()))
    }

    /// Workflows and jobs of `pipelines`, at most `concurrency` pipelines at a time, in their order.
    private func fetchRuns(of pipelines: [PipelineRecord], in context: ProjectContext) async throws(BackfillError) -> [BackfilledPipeline] {
        try await concurrentMap(pipelines, limit: options.connection.concurrency) { pipeline throws(BackfillError) in
            try await self.fetchRuns(of: pipeline, in: context)
        }
    }

    private func fetchRuns(of pipeline: PipelineRecord, in context: ProjectContext) async throws(BackfillError) -> BackfilledPipeline {
        do {
            return try await fetchWorkflowsAndJobs(of: pipeline, in: context)
        } catch let error where error.code == .notFound {
            // One pipeline CircleCI cannot answer for must not stop the project's backfill.
            counts.withLock { $0.pipelinesSkipped += 1 }
            onEvent(.skipped(pipelineNumber: pipeline.number, path: error.path ?? ""))
            return BackfilledPipeline(pipeline: pipeline, workflows: [], jobs: [], runsMissing: true)
        }
    }

    private func fetchWorkflowsAndJobs(
        of pipeline: PipelineRecord,
        in context: ProjectContext
    ) async throws(BackfillError)
        -> BackfilledPipeline
    {
        var workflows: [WorkflowRecord] = []
        for item in try await client.allItems("/pipeline/\(CircleCIClient.escapePath(pipeline.id))/workflow") {
            if let workflow = APIRecords.workflow(item, projectID: context.project.id, appURL: context.appURL) { workflows.append(workflow) }
        }
        var jobs: [JobRecord] = []
        for workflow in workflows {
            for item in try await client.allItems("/workflow/\(CircleCIClient.escapePath(workflow.id))/job") {
                if let job = APIRecords.job(item, workflowID: workflow.id, pipelineID: pipeline.id, projectID: context.project.id) {
                    jobs.append(job)
                } else if item["type"]?.string == "approval" {
                    counts.withLock { $0.approvalsSkipped += 1 }
                }
            }
        }
        return BackfilledPipeline(pipeline: pipeline, workflows: workflows, jobs: jobs)
    }

    private func stored<T>(_ read: () throws(StoreError) -> T) throws(BackfillError) -> T {
        do { return try read() } catch { throw .store(error) }
    }
}
