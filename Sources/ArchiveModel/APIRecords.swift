/// CircleCI API v2 responses, normalized into the records webhooks produce, so backfilled rows
/// and webhook rows merge by the same rules (the store's entity tables). Read as leniently as webhooks: a
/// missing or oddly typed field becomes NULL; an item without an id is skipped.
public enum APIRecords {
    /// `GET /project/{slug}`.
    public static func project(_ document: JSONValue) -> (organization: OrganizationRecord?, project: ProjectRecord)? {
        guard let id = document["id"]?.string, !id.isEmpty else { return nil }
        let organizationID = document["organization_id"]?.string
        return (
            organizationID.map { OrganizationRecord(id: $0, name: document["organization_name"]?.string) },
            ProjectRecord(
                id: id,
                slug: document["slug"]?.string.map(ProjectSlug.canonical),
                name: document["name"]?.string,
                organizationID: organizationID
            )
        )
    }

    /// An item of `GET /project/{slug}/pipeline`. Its `vcs` and `trigger_parameters` maps are those
    /// of the webhook's `pipeline` map; the API capitalizes the provider (`GitHub`), webhooks do not.
    public static func pipeline(_ item: JSONValue, projectID: String) -> PipelineRecord? {
        guard let id = item["id"]?.string, !id.isEmpty else { return nil }
        var record = PipelineRecord(id: id, map: item, projectID: projectID)
        record.vcsProviderName = record.vcsProviderName?.lowercased()
        record.source = .api
        return record
    }

    /// An item of `GET /pipeline/{id}/workflow`. `url` is CircleCI's app link when `appURL` is known.
    public static func workflow(_ item: JSONValue, projectID: String, appURL: String?) -> WorkflowRecord? {
        guard let id = item["id"]?.string, !id.isEmpty else { return nil }
        let url = appURL.flatMap { app in
            item["pipeline_number"]?.integer.map { "\(app)/\($0)/workflows/\(id)" }
        }
        return WorkflowRecord(
            id: id,
            name: item["name"]?.string,
            pipelineID: item["pipeline_id"]?.string,
            projectID: projectID,
            status: item["status"]?.string,
            createdAt: item["created_at"]?.timestamp,
            stoppedAt: item["stopped_at"]?.timestamp,
            url: url,
            source: .api
        )
    }

    /// An item of `GET /workflow/{id}/job`; nil for an approval job, which is a button, not a run.
    public static func job(_ item: JSONValue, workflowID: String, pipelineID: String?, projectID: String) -> JobRecord? {
        guard let id = item["id"]?.string, !id.isEmpty, item["type"]?.string != "approval" else { return nil }
        return JobRecord(
            id: id,
            number: item["job_number"]?.integer,
            name: item["name"]?.string,
            status: item["status"]?.string,
            startedAt: item["started_at"]?.timestamp,
            stoppedAt: item["stopped_at"]?.timestamp,
            workflowID: workflowID,
            pipelineID: pipelineID,
            projectID: projectID,
            source: .api
        )
    }

    /// The web app's page of a project's pipelines on CircleCI's cloud, which workflow links
    /// start with: `gh/acme/widgets` → `https://app.circleci.com/pipelines/github/acme/widgets`.
    public static func cloudAppURL(projectSlug: String) -> String {
        var parts = projectSlug.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if let provider = parts.first {
            parts[0] = ["gh": "github", "github": "github", "bb": "bitbucket", "bitbucket": "bitbucket"][provider] ?? provider
        }
        return "https://app.circleci.com/pipelines/" + parts.joined(separator: "/")
    }
}

/// A pipeline as backfill fetched it, with its workflows and their jobs.
public struct BackfilledPipeline: Sendable {
    public var pipeline: PipelineRecord
    public var workflows: [WorkflowRecord]
    public var jobs: [JobRecord]
    /// CircleCI listed the pipeline but answered 404 for its workflows or jobs (data past its
    /// retention, or a transient gap): the pipeline is kept without them and recorded unfinished,
    /// so the next run asks again.
    public var runsMissing: Bool

    public init(pipeline: PipelineRecord, workflows: [WorkflowRecord], jobs: [JobRecord], runsMissing: Bool = false) {
        self.pipeline = pipeline
        self.workflows = workflows
        self.jobs = jobs
        self.runsMissing = runsMissing
    }

    /// Nothing in it will change any more: every workflow has a terminal status. (Jobs of a
    /// finished workflow that never ran keep statuses like `blocked`; a rerun adds a new workflow,
    /// which its webhooks bring.) A pipeline without workflows counts as finished a day after it
    /// was created (a config error, or a filtered-out push), not before: they may be starting.
    public func isFinished(at now: Timestamp) -> Bool {
        if runsMissing { return false }
        if workflows.isEmpty {
            guard let created = pipeline.createdAt else { return true }
            return now.microseconds - created.microseconds > 86_400_000_000
        }
        return workflows.allSatisfy { RunStatus.terminal.contains($0.status ?? "") }
    }
}
