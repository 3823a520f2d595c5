import ArchiveServer
import Foundation

/// Webhook payloads shaped like CircleCI's published samples (webhooks reference), with ids of
/// our own. Builders take the fields tests vary; everything else is realistic and fixed.
public enum Fixtures {
    public static let organizationID = "f1a0c2de-5b3e-4c2a-9d4e-1a2b3c4d5e6f"
    public static let projectID = "7c8d9e0f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    public static let pipelineID = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
    public static let workflowID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"

    public static let ping = """
        {"type":"ping","id":"3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c","happened_at":"2024-03-05T10:15:02.123Z",\
        "webhook":{"id":"a4e1c9b2-3d5f-4e6a-8b7c-9d0e1f2a3b4c","name":"archive"}}
        """

    /// A GitHub OAuth project's pipeline map, with `vcs`.
    public static func githubPipeline(
        id: String = pipelineID,
        number: Int = 130,
        branch: String = "main",
        revision: String = "1dc6aa69429bff4806ad6afe58d3d8f57e25973e"
    ) -> String {
        """
        {"id":"\(id)","number":\(number),"created_at":"2024-03-05T10:10:03.544Z",\
        "trigger":{"type":"webhook","actor":{"id":"5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"}},\
        "vcs":{"provider_name":"github","origin_repository_url":"https://github.com/acme/widgets",\
        "target_repository_url":"https://github.com/acme/widgets","revision":"\(revision)",\
        "commit":{"subject":"Fix flaky retry test","body":"The retry loop, \\"again\\".\\nSecond line, with a comma.",\
        "author":{"name":"Ada Lovelace","email":"ada@example.com"},"authored_at":"2024-03-05T10:09:53Z",\
        "committer":{"name":"GitHub","email":"noreply@github.com"},"committed_at":"2024-03-05T10:09:55+01:00"},\
        "branch":"\(branch)"}}
        """
    }

    static let project = """
        "project":{"id":"\(projectID)","name":"widgets","slug":"github/acme/widgets"},\
        "organization":{"id":"\(organizationID)","name":"acme"}
        """

    static let webhook = #""webhook":{"id":"a4e1c9b2-3d5f-4e6a-8b7c-9d0e1f2a3b4c","name":"archive"}"#

    public static func workflowCompleted(
        id: String = "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7",
        happenedAt: String = "2024-03-05T10:14:34.317Z",
        workflowID: String = workflowID,
        name: String = "build-test-deploy",
        status: String = "success",
        createdAt: String = "2024-03-05T10:10:03.616Z",
        stoppedAt: String? = "2024-03-05T10:14:34.170Z",
        pipeline: String = githubPipeline()
    ) -> String {
        """
        {"id":"\(id)","type":"workflow-completed","happened_at":"\(happenedAt)",\(webhook),\(project),\
        "workflow":{"id":"\(workflowID)","name":"\(name)","created_at":"\(createdAt)",\
        \(stoppedAt.map { "\"stopped_at\":\"\($0)\"," } ?? "")\
        "url":"https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/\(workflowID)","status":"\(status)"},\
        "pipeline":\(pipeline)}
        """
    }

    public static func jobCompleted(
        id: String = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
        happenedAt: String = "2024-03-05T10:12:34.279Z",
        jobID: String = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
        number: Int = 136,
        name: String = "test",
        status: String = "success",
        startedAt: String? = "2024-03-05T10:11:28.841Z",
        stoppedAt: String? = "2024-03-05T10:12:34.170Z",
        workflowID: String = workflowID,
        workflowName: String = "build-test-deploy",
        workflowStoppedAt: String? = nil,
        pipeline: String = githubPipeline()
    ) -> String {
        """
        {"id":"\(id)","type":"job-completed","happened_at":"\(happenedAt)",\(webhook),\(project),\
        "pipeline":\(pipeline),\
        "workflow":{"id":"\(workflowID)","name":"\(workflowName)","created_at":"2024-03-05T10:10:03.616Z",\
        \(workflowStoppedAt.map { "\"stopped_at\":\"\($0)\"," } ?? "")\
        "url":"https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/\(workflowID)"},\
        "job":{"id":"\(jobID)","name":"\(name)",\
        \(startedAt.map { "\"started_at\":\"\($0)\"," } ?? "")\(stoppedAt.map { "\"stopped_at\":\"\($0)\"," } ?? "")\
        "status":"\(status)","number":\(number)}}
        """
    }

    /// A GitLab project's pipeline: no `vcs`, commit facts in `trigger_parameters`.
    public static let gitlabPipeline = """
        {"id":"4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8","number":7,"created_at":"2024-04-13T11:10:18.804Z",\
        "trigger":{"type":"gitlab"},"trigger_parameters":{"gitlab":{"web_url":"https://gitlab.com/acme/gadgets",\
        "commit_author_name":"Grace Hopper","user_id":"9534789","user_name":"Grace Hopper","user_username":"grace",\
        "branch":"release","commit_title":"Bump version","commit_message":"Bump version\\n\\nRelease 1.2.0",\
        "repo_url":"git@gitlab.com:acme/gadgets.git","type":"push","project_id":"33852820","ref":"refs/heads/release",\
        "repo_name":"gadgets","commit_author_email":"grace@example.com",\
        "checkout_sha":"850a1519f25d14e968649cc420d1bd381715c05c","commit_timestamp":"2024-04-13T11:10:16+00:00",\
        "commit_sha":"850a1519f25d14e968649cc420d1bd381715c05c"},\
        "git":{"tag":"","checkout_sha":"850a1519f25d14e968649cc420d1bd381715c05c","ref":"refs/heads/release",\
        "branch":"release","checkout_url":"git@gitlab.com:acme/gadgets.git"},\
        "circleci":{"event_time":"2024-04-13T11:10:18.349Z","actor_id":"6a19122c-40e0-4d56-a875-aac6ccc27700",\
        "event_type":"push","trigger_type":"gitlab"}}}
        """

    static let gitlabProject = """
        "project":{"id":"8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d","name":"gadgets","slug":"circleci/DdaVtNus/6EkDPZoN"},\
        "organization":{"id":"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","name":"acme-gitlab"}
        """

    public static let gitlabWorkflowCompleted = """
        {"type":"workflow-completed","id":"5f6a7b8c-9d0e-4f1a-b2c3-d4e5f6a7b8c9","happened_at":"2024-04-13T11:20:13.954328Z",\
        \(webhook),"workflow":{"id":"6a7b8c9d-0e1f-4a2b-83c4-d5e6f7a8b9c0","name":"build",\
        "created_at":"2024-04-13T11:10:19.631Z","stopped_at":"2024-04-13T11:20:13.812Z",\
        "url":"https://app.circleci.com/pipelines/circleci/DdaVtNus/6EkDPZoN/7/workflows/6a7b8c9d-0e1f-4a2b-83c4-d5e6f7a8b9c0",\
        "status":"failed"},"pipeline":\(gitlabPipeline),\(gitlabProject)}
        """

    /// CircleCI's published GitLab job-completed sample lacks `workflow`; a real one has it.
    public static let gitlabJobCompleted = """
        {"type":"job-completed","id":"7b8c9d0e-1f2a-4b3c-94d5-e6f7a8b9c0d1","happened_at":"2024-04-13T11:20:13.954328Z",\
        \(webhook),"job":{"id":"8c9d0e1f-2a3b-4c4d-a5e6-f7a8b9c0d1e2","name":"say-hello",\
        "started_at":"2024-04-13T11:19:37.435Z","stopped_at":"2024-04-13T11:19:59.982Z","status":"failed","number":12},\
        "workflow":{"id":"6a7b8c9d-0e1f-4a2b-83c4-d5e6f7a8b9c0","name":"build","created_at":"2024-04-13T11:10:19.631Z",\
        "url":"https://app.circleci.com/pipelines/circleci/DdaVtNus/6EkDPZoN/7/workflows/6a7b8c9d-0e1f-4a2b-83c4-d5e6f7a8b9c0"},\
        "pipeline":\(gitlabPipeline),\(gitlabProject)}
        """

    /// A GitHub App project's job: `trigger_parameters` with `github_app` and `git` maps, empty strings for unknowns.
    public static let githubAppJobCompleted = """
        {"happened_at":"2024-12-18T18:51:31.379158Z","pipeline":{"id":"9e0f1a2b-3c4d-4e5f-a6b7-c8d9e0f1a2b3","number":5,\
        "created_at":"2024-12-18T17:23:29.629Z","trigger":{"type":"api"},"trigger_parameters":{"github_app":{\
        "commit_author_name":"","owner":"","full_ref":"refs/heads/setup","forced":"false","user_username":"",\
        "branch":"setup","commit_title":"Add CircleCI config","repo_url":"","ref":"setup","repo_name":"",\
        "commit_author_email":"","commit_sha":"9e2e4bed59d2e6c51d00e0e0b49f1b79ff146ab1"},"git":{"commit_author_name":"",\
        "repo_owner":"","branch":"setup","commit_message":"Add CircleCI config","repo_url":"","ref":"refs/heads/setup",\
        "author_avatar_url":"","checkout_url":"","author_login":"","repo_name":"","commit_author_email":"",\
        "checkout_sha":"9e2e4bed59d2e6c51d00e0e0b49f1b79ff146ab1","default_branch":"main"},"circleci":{\
        "event_time":"2024-12-18 17:23:29.361740256 +0000 UTC","provider_actor_id":"864c50f3-d0b6-4929-a524-036d3cd4e23f",\
        "actor_id":"864c50f3-d0b6-4929-a524-036d3cd4e23f","event_type":"create pipeline run api","trigger_type":"github_app"},\
        "webhook":{"body":"{}"}}},"webhook":{"id":"6973c364-58bc-43f4-9074-1f3ea720fb6c","name":""},"type":"job-completed",\
        "organization":{"id":"48c30eda-389d-48a8-ac64-7091f80c69df","name":""},"workflow":{"id":"c5aa9edf-4de9-43fd-b50e-2bfd75e32cb1",\
        "name":"say-hello-workflow","created_at":"2024-12-18T18:51:06.137Z","stopped_at":"2024-12-18T18:51:31.300Z",\
        "url":"https://app.circleci.com/pipelines/circleci/9z8Pam/AHWysF/5/workflows/c5aa9edf-4de9-43fd-b50e-2bfd75e32cb1"},\
        "project":{"id":"4b309fd6-d103-401a-bee5-1de19651d969","name":"","slug":"circleci/9z8Pam/AHWysF"},\
        "id":"1c457f7f-5b15-341b-9b86-6370d1357f61","job":{"status":"success","id":"00f06c85-7476-4a75-ba64-7daa608dc61e",\
        "name":"say-hello","number":12,"started_at":"2024-12-18T18:51:09.357Z","stopped_at":"2024-12-18T18:51:31.300Z"}}
        """

    /// An event type CircleCI may add later: archived, never rejected for its type.
    public static let futureEvent = """
        {"type":"pipeline-started","id":"0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a","happened_at":"2024-05-01T08:00:00Z",\
        \(webhook),\(project),"pipeline":\(githubPipeline(id: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", number: 131)),\
        "something_new":{"nested":[1,2,3]}}
        """
}

/// The `circleci-signature` header value CircleCI would send for `body` under `secret`.
public func signature(for body: String, secret: String) -> String {
    signature(for: Array(body.utf8), secret: secret)
}

public func signature(for body: [UInt8], secret: String) -> String {
    SignatureVerifier.headerValue(for: body, secret: secret)
}

/// One directory per test process holding every test's files, removed when the process exits.
private let testRoot: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("circle-archive-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: testRoot) }
    return url
}()

/// A fresh directory for one test's database and files.
public func makeTemporaryDirectory() throws -> URL {
    let url = testRoot.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
