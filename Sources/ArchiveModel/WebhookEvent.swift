/// A CircleCI webhook event, validated and normalized into the rows it contributes.
///
/// Only `id`, `type` and `happened_at` are required: without them an event can be neither
/// deduplicated nor ordered. Everything else is optional and read leniently, because payloads
/// are open maps: a missing or oddly typed field becomes NULL, and the exact body is archived
/// with the event anyway.
public struct WebhookEvent: Sendable, Equatable {
    public var id: String
    public var type: String
    public var happenedAt: Timestamp
    public var webhookID: String?
    public var webhookName: String?
    public var organizationID: String?
    public var projectID: String?
    public var pipelineID: String?
    public var workflowID: String?
    public var jobID: String?

    public var organization: OrganizationRecord?
    public var project: ProjectRecord?
    public var pipeline: PipelineRecord?
    public var workflow: WorkflowRecord?
    public var job: JobRecord?

    /// The event types whose `workflow` and `job` maps describe a finished run. Other types are
    /// archived with their ids, organization, project and pipeline; their workflow and job maps
    /// are not normalized, since what a status means there is not known yet.
    public static let completionTypes: Set<String> = ["workflow-completed", "job-completed"]

    /// The longest id or type accepted, in UTF-8 bytes. CircleCI's ids are 36-character UUIDs;
    /// ids are keys of every index, so an absurd one (too long, or with a NUL) is refused rather
    /// than archived.
    public static let maximumIdentifierBytes = 256

    /// Orders events: `happened_at` to the microsecond, then the event id to break ties, so the
    /// same set of events produces the same tables whatever order they arrive in.
    public var orderingKey: String {
        happenedAt.iso8601Microseconds + " " + id
    }
}

/// Why a signed body cannot be archived; becomes a 400 and a `rejected_deliveries` row.
public struct MalformedEvent: ArchiveError, Equatable {
    public enum Code: String, Sendable {
        case malformed
    }

    public var reason: String
    public var code: Code { .malformed }
    public var message: String { reason }
}

public struct OrganizationRecord: Sendable, Equatable {
    public var id: String
    public var name: String?

    public init(
        id: String,
        name: String? = nil
    ) {
        self.id = id
        self.name = name
    }
}

public struct ProjectRecord: Sendable, Equatable {
    public var id: String
    public var slug: String?
    public var name: String?
    public var organizationID: String?

    public init(
        id: String,
        slug: String? = nil,
        name: String? = nil,
        organizationID: String? = nil
    ) {
        self.id = id
        self.slug = slug
        self.name = name
        self.organizationID = organizationID
    }
}

public struct PipelineRecord: Sendable, Equatable {
    public var id: String
    public var number: Int64?
    public var projectID: String?
    public var createdAt: Timestamp?
    public var triggerType: String?
    public var triggerActorID: String?
    public var vcsProviderName: String?
    public var vcsTargetRepositoryURL: String?
    public var vcsOriginRepositoryURL: String?
    public var vcsRevision: String?
    public var vcsBranch: String?
    public var vcsTag: String?
    public var commitSubject: String?
    public var commitBody: String?
    public var commitAuthorName: String?
    public var commitAuthorEmail: String?
    public var commitAuthoredAt: Timestamp?
    public var commitCommitterName: String?
    public var commitCommitterEmail: String?
    public var commitCommittedAt: Timestamp?
    public var source: RecordSource = .webhook

    public init(
        id: String,
        number: Int64? = nil,
        projectID: String? = nil,
        createdAt: Timestamp? = nil,
        triggerType: String? = nil,
        triggerActorID: String? = nil,
        vcsProviderName: String? = nil,
        vcsTargetRepositoryURL: String? = nil,
        vcsOriginRepositoryURL: String? = nil,
        vcsRevision: String? = nil,
        vcsBranch: String? = nil,
        vcsTag: String? = nil,
        commitSubject: String? = nil,
        commitBody: String? = nil,
        commitAuthorName: String? = nil,
        commitAuthorEmail: String? = nil,
        commitAuthoredAt: Timestamp? = nil,
        commitCommitterName: String? = nil,
        commitCommitterEmail: String? = nil,
        commitCommittedAt: Timestamp? = nil,
        source: RecordSource = .webhook
    ) {
        self.id = id
        self.number = number
        self.projectID = projectID
        self.createdAt = createdAt
        self.triggerType = triggerType
        self.triggerActorID = triggerActorID
        self.vcsProviderName = vcsProviderName
        self.vcsTargetRepositoryURL = vcsTargetRepositoryURL
        self.vcsOriginRepositoryURL = vcsOriginRepositoryURL
        self.vcsRevision = vcsRevision
        self.vcsBranch = vcsBranch
        self.vcsTag = vcsTag
        self.commitSubject = commitSubject
        self.commitBody = commitBody
        self.commitAuthorName = commitAuthorName
        self.commitAuthorEmail = commitAuthorEmail
        self.commitAuthoredAt = commitAuthoredAt
        self.commitCommitterName = commitCommitterName
        self.commitCommitterEmail = commitCommitterEmail
        self.commitCommittedAt = commitCommittedAt
        self.source = source
    }
}

public struct WorkflowRecord: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var pipelineID: String?
    public var projectID: String?
    public var status: String?
    public var createdAt: Timestamp?
    public var stoppedAt: Timestamp?
    public var url: String?
    public var source: RecordSource = .webhook

    public init(
        id: String,
        name: String? = nil,
        pipelineID: String? = nil,
        projectID: String? = nil,
        status: String? = nil,
        createdAt: Timestamp? = nil,
        stoppedAt: Timestamp? = nil,
        url: String? = nil,
        source: RecordSource = .webhook
    ) {
        self.id = id
        self.name = name
        self.pipelineID = pipelineID
        self.projectID = projectID
        self.status = status
        self.createdAt = createdAt
        self.stoppedAt = stoppedAt
        self.url = url
        self.source = source
    }
}

public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var number: Int64?
    public var name: String?
    public var status: String?
    public var startedAt: Timestamp?
    public var stoppedAt: Timestamp?
    public var workflowID: String?
    public var pipelineID: String?
    public var projectID: String?
    public var source: RecordSource = .webhook

    public init(
        id: String,
        number: Int64? = nil,
        name: String? = nil,
        status: String? = nil,
        startedAt: Timestamp? = nil,
        stoppedAt: Timestamp? = nil,
        workflowID: String? = nil,
        pipelineID: String? = nil,
        projectID: String? = nil,
        source: RecordSource = .webhook
    ) {
        self.id = id
        self.number = number
        self.name = name
        self.status = status
        self.startedAt = startedAt
        self.stoppedAt = stoppedAt
        self.workflowID = workflowID
        self.pipelineID = pipelineID
        self.projectID = projectID
        self.source = source
    }
}

extension WebhookEvent {
    /// Parses and normalizes a delivery body.
    public init(parsing body: some Collection<UInt8>) throws(MalformedEvent) {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: body)
        } catch {
            throw MalformedEvent(reason: error.description)
        }
        try self.init(document: document)
    }

    public init(document: JSONValue) throws(MalformedEvent) {
        guard document.isObject else { throw MalformedEvent(reason: "body is not a JSON object") }
        guard let id = document["id"]?.string, !id.isEmpty else {
            throw MalformedEvent(reason: "missing or non-string \"id\"")
        }
        guard let type = document["type"]?.string, !type.isEmpty else {
            throw MalformedEvent(reason: "missing or non-string \"type\"")
        }
        guard let happenedAtText = document["happened_at"]?.string else {
            throw MalformedEvent(reason: "missing or non-string \"happened_at\"")
        }
        guard let happenedAt = Timestamp(iso8601: happenedAtText) else {
            throw MalformedEvent(reason: "unparseable \"happened_at\": \(happenedAtText.prefix(64))")
        }
        self.id = id
        self.type = type
        self.happenedAt = happenedAt
        webhookID = document["webhook"]?["id"]?.string
        webhookName = document["webhook"]?["name"]?.string

        let organizationMap = document["organization"]
        let projectMap = document["project"]
        let pipelineMap = document["pipeline"]
        let workflowMap = document["workflow"]
        let jobMap = document["job"]
        organizationID = organizationMap?["id"]?.string
        projectID = projectMap?["id"]?.string
        pipelineID = pipelineMap?["id"]?.string
        workflowID = workflowMap?["id"]?.string
        jobID = jobMap?["id"]?.string
        for (field, value) in [
            ("id", id), ("type", type), ("organization.id", organizationID), ("project.id", projectID),
            ("pipeline.id", pipelineID), ("workflow.id", workflowID), ("job.id", jobID),
        ] {
            guard let value else { continue }
            if value.utf8.count > Self.maximumIdentifierBytes {
                throw MalformedEvent(reason: "\"\(field)\" longer than \(Self.maximumIdentifierBytes) bytes")
            }
            // SQLite keeps text with a NUL inside, but C-string APIs (and tools that use them)
            // read it cut short: two different ids could then look like one.
            if value.utf8.contains(0) {
                throw MalformedEvent(reason: "\"\(field)\" contains a NUL character")
            }
        }

        if let organizationID {
            organization = OrganizationRecord(id: organizationID, name: organizationMap?["name"]?.string)
        }
        if let projectID {
            project = ProjectRecord(
                id: projectID,
                slug: projectMap?["slug"]?.string.map(ProjectSlug.canonical),
                name: projectMap?["name"]?.string,
                organizationID: organizationID
            )
        }
        if let pipelineID, let pipelineMap {
            pipeline = PipelineRecord(id: pipelineID, map: pipelineMap, projectID: projectID)
        }
        guard Self.completionTypes.contains(type) else { return }
        if let workflowID, let workflowMap {
            workflow = WorkflowRecord(
                id: workflowID,
                name: workflowMap["name"]?.string,
                pipelineID: pipelineID,
                projectID: projectID,
                status: workflowMap["status"]?.string,
                createdAt: workflowMap["created_at"]?.timestamp,
                stoppedAt: workflowMap["stopped_at"]?.timestamp,
                url: workflowMap["url"]?.string
            )
        }
        if type == "job-completed", let jobID, let jobMap {
            job = JobRecord(
                id: jobID,
                number: jobMap["number"]?.integer,
                name: jobMap["name"]?.string,
                status: jobMap["status"]?.string,
                startedAt: jobMap["started_at"]?.timestamp,
                stoppedAt: jobMap["stopped_at"]?.timestamp,
                workflowID: workflowID,
                pipelineID: pipelineID,
                projectID: projectID
            )
        }
    }
}

extension PipelineRecord {
    /// Reads a `pipeline` map. GitHub OAuth and Bitbucket Cloud projects describe the commit in
    /// `vcs`; GitLab, GitHub App and Bitbucket Data Center projects send `trigger_parameters`
    /// instead, so each commit field falls back to those maps when `vcs` lacks it.
    init(id: String, map: JSONValue, projectID: String?) {
        let vcs = map["vcs"]
        let commit = vcs?["commit"]
        let parameters = TriggerParameters(map["trigger_parameters"])
        self.init(
            id: id,
            number: map["number"]?.integer,
            projectID: projectID,
            createdAt: map["created_at"]?.timestamp,
            triggerType: map["trigger"]?["type"]?.string,
            triggerActorID: map["trigger"]?["actor"]?["id"]?.string,
            vcsProviderName: vcs?["provider_name"]?.string ?? parameters.providerName,
            vcsTargetRepositoryURL: vcs?["target_repository_url"]?.string ?? parameters.repositoryURL,
            vcsOriginRepositoryURL: vcs?["origin_repository_url"]?.string,
            vcsRevision: vcs?["revision"]?.string ?? parameters.revision,
            vcsBranch: vcs?["branch"]?.string ?? parameters.branch,
            vcsTag: vcs?["tag"]?.string ?? parameters.tag,
            commitSubject: commit?["subject"]?.string ?? parameters.subject,
            commitBody: commit?["body"]?.string ?? parameters.body,
            commitAuthorName: commit?["author"]?["name"]?.string ?? parameters.authorName,
            commitAuthorEmail: commit?["author"]?["email"]?.string ?? parameters.authorEmail,
            commitAuthoredAt: commit?["authored_at"]?.timestamp ?? parameters.authoredAt,
            commitCommitterName: commit?["committer"]?["name"]?.string,
            commitCommitterEmail: commit?["committer"]?["email"]?.string,
            commitCommittedAt: commit?["committed_at"]?.timestamp
        )
    }
}

/// The commit facts found in `pipeline.trigger_parameters`: the provider-neutral `git` map first,
/// then the `gitlab` and `github_app` maps. These maps use empty strings for unknown values, so
/// empty strings count as absent.
private struct TriggerParameters {
    let git: JSONValue?
    let gitlab: JSONValue?
    let githubApp: JSONValue?
    let circleci: JSONValue?

    init(_ map: JSONValue?) {
        git = map?["git"]
        gitlab = map?["gitlab"]
        githubApp = map?["github_app"]
        circleci = map?["circleci"]
    }

    private func first(_ candidates: (JSONValue?, String)...) -> String? {
        for (map, key) in candidates {
            if let value = map?[key]?.string, !value.isEmpty { return value }
        }
        return nil
    }

    var providerName: String? {
        if gitlab != nil { return "gitlab" }
        if githubApp != nil { return "github_app" }
        return first((circleci, "trigger_type"))
    }

    var repositoryURL: String? {
        first((gitlab, "web_url"), (git, "repo_url"), (githubApp, "repo_url"), (git, "checkout_url"), (gitlab, "repo_url"))
    }

    var revision: String? {
        first((git, "checkout_sha"), (gitlab, "checkout_sha"), (gitlab, "commit_sha"), (githubApp, "commit_sha"))
    }

    var branch: String? { first((git, "branch"), (gitlab, "branch"), (githubApp, "branch")) }

    var tag: String? { first((git, "tag"), (gitlab, "tag"), (githubApp, "tag")) }

    /// The commit message as sent, from whichever map has one.
    private var message: String? {
        first((gitlab, "commit_message"), (git, "commit_message"), (githubApp, "commit_message"))
    }

    var subject: String? {
        first((gitlab, "commit_title"), (githubApp, "commit_title"))
            ?? message.flatMap { $0.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) }
    }

    /// The message after its first line, trimmed of the blank line that separates them.
    var body: String? {
        guard let message, let newline = message.firstIndex(of: "\n") else { return nil }
        let rest = message[message.index(after: newline)...].drop(while: { $0 == "\n" || $0 == "\r" })
        return rest.isEmpty ? nil : String(rest)
    }

    var authorName: String? { first((gitlab, "commit_author_name"), (git, "commit_author_name"), (githubApp, "commit_author_name")) }

    var authorEmail: String? {
        first((gitlab, "commit_author_email"), (git, "commit_author_email"), (githubApp, "commit_author_email"))
    }

    var authoredAt: Timestamp? {
        first((gitlab, "commit_timestamp"), (git, "commit_timestamp")).flatMap { Timestamp(iso8601: $0) }
    }
}

/// Where a pipeline, workflow or job row's newest values came from (the `source` column).
public enum RecordSource: String, Sendable {
    /// An archived webhook event.
    case webhook
    /// `circle-archive backfill`, from CircleCI's API.
    case api
}

extension JSONValue {
    /// The value as a timestamp, when it is a string in a form `Timestamp` reads.
    var timestamp: Timestamp? {
        string.flatMap { Timestamp(iso8601: $0) }
    }
}
