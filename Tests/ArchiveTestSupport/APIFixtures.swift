import Foundation

/// CircleCI API v2 responses shaped like the API reference's examples, describing the same runs
/// as `Fixtures`' webhook payloads (same ids and times), so backfilled rows can be compared with
/// webhook rows.
public enum APIFixtures {
    public static let projectSlug = "gh/acme/widgets"

    public static let project = """
        {"slug":"gh/acme/widgets","name":"widgets","id":"\(Fixtures.projectID)","organization_name":"acme",\
        "organization_slug":"gh/acme","organization_id":"\(Fixtures.organizationID)",\
        "vcs_info":{"vcs_url":"https://github.com/acme/widgets","provider":"GitHub","default_branch":"main"}}
        """

    /// A GitHub project's pipeline item: `vcs` with the commit's subject and body only.
    public static func pipeline(
        id: String = Fixtures.pipelineID,
        number: Int = 130,
        createdAt: String = "2024-03-05T10:10:03.544Z",
        branch: String = "main",
        revision: String = "1dc6aa69429bff4806ad6afe58d3d8f57e25973e"
    ) -> String {
        """
        {"id":"\(id)","errors":[],"project_slug":"gh/acme/widgets","updated_at":"\(createdAt)","number":\(number),\
        "trigger_parameters":{},"state":"created","created_at":"\(createdAt)",\
        "trigger":{"type":"webhook","received_at":"\(createdAt)","actor":{"login":"ada","avatar_url":"https://example.com/a.png"}},\
        "vcs":{"provider_name":"GitHub","origin_repository_url":"https://github.com/acme/widgets",\
        "target_repository_url":"https://github.com/acme/widgets","revision":"\(revision)","branch":"\(branch)",\
        "commit":{"subject":"Fix flaky retry test","body":"The retry loop, \\"again\\".\\nSecond line, with a comma."}}}
        """
    }

    /// A GitLab project's pipeline item: no `vcs`; the commit is in `trigger_parameters`.
    public static func gitlabPipeline(id: String, number: Int, createdAt: String) -> String {
        """
        {"id":"\(id)","errors":[],"project_slug":"circleci/DdaVtNus/6EkDPZoN","number":\(number),"state":"created",\
        "created_at":"\(createdAt)","trigger":{"type":"gitlab","received_at":"\(createdAt)","actor":{"login":"grace"}},\
        "trigger_parameters":{"gitlab":{"web_url":"https://gitlab.com/acme/gadgets","branch":"release",\
        "commit_title":"Bump version","commit_message":"Bump version\\n\\nRelease 1.2.0","commit_sha":"c0ffee00",\
        "commit_author_name":"Grace Hopper","commit_author_email":"grace@example.com"},\
        "git":{"checkout_sha":"c0ffee00","branch":"release"}}}
        """
    }

    public static func workflow(
        id: String = Fixtures.workflowID,
        pipelineID: String = Fixtures.pipelineID,
        pipelineNumber: Int = 130,
        name: String = "build-test-deploy",
        status: String = "success",
        createdAt: String = "2024-03-05T10:10:03.616Z",
        stoppedAt: String? = "2024-03-05T10:14:34.170Z",
        projectSlug: String = projectSlug
    ) -> String {
        """
        {"pipeline_id":"\(pipelineID)","id":"\(id)","name":"\(name)","project_slug":"\(projectSlug)",\
        "status":"\(status)","started_by":"5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9","pipeline_number":\(pipelineNumber),\
        "created_at":"\(createdAt)"\(stoppedAt.map { ",\"stopped_at\":\"\($0)\"" } ?? "")}
        """
    }

    public static func job(
        id: String = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
        number: Int? = 136,
        name: String = "test",
        status: String = "success",
        type: String = "build",
        startedAt: String? = "2024-03-05T10:11:28.841Z",
        stoppedAt: String? = "2024-03-05T10:12:34.170Z"
    ) -> String {
        """
        {"dependencies":[],"id":"\(id)","name":"\(name)","project_slug":"gh/acme/widgets","status":"\(status)","type":"\(type)"\
        \(number.map { ",\"job_number\":\($0)" } ?? "")\(startedAt.map { ",\"started_at\":\"\($0)\"" } ?? "")\
        \(stoppedAt.map { ",\"stopped_at\":\"\($0)\"" } ?? "")}
        """
    }

    /// `GET /project/{slug}/job/{number}`, shaped like CircleCI's job details.
    public static func jobDetails(
        number: Int,
        queuedAt: String = "2024-03-05T10:11:20.841Z",
        startedAt: String = "2024-03-05T10:11:28.841Z",
        resourceClass: String = "large",
        executorType: String = "docker",
        parallelism: Int = 1
    ) -> String {
        """
        {"web_url":"https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/w/jobs/\(number)","project":{"slug":"gh/acme/widgets",\
        "name":"widgets","external_url":"https://github.com/acme/widgets"},"parallel_runs":[{"index":0,"status":"success"}],\
        "started_at":"\(startedAt)","latest_workflow":{"id":"w","name":"build"},"name":"test","executor":{"resource_class":"\(resourceClass)",\
        "type":"\(executorType)"},"parallelism":\(parallelism),"status":"success","number":\(number),"pipeline":{"id":"p"},"duration":65329,\
        "created_at":"2024-03-05T10:11:19.000Z","messages":[],"contexts":[{"name":"deploy"}],"organization":{"name":"acme"},\
        "queued_at":"\(queuedAt)","stopped_at":"2024-03-05T10:12:34.170Z"}
        """
    }

    /// An item of `GET /project/{slug}/{number}/tests`; `runTime` is written as given (a number or a string).
    public static func test(classname: String = "WidgetTest", name: String, result: String = "success", runTime: String = "0.25") -> String {
        """
        {"message":"\(result == "failure" ? "expected true" : "")","source":"junit","run_time":\(runTime),"file":"Tests/WidgetTest.swift",\
        "result":"\(result)","name":"\(name)","classname":"\(classname)"}
        """
    }

    /// `{"items":[…],"next_page_token":…}`.
    public static func page(_ items: [String], next: String? = nil) -> String {
        "{\"items\":[\(items.joined(separator: ","))],\"next_page_token\":\(next.map { "\"\($0)\"" } ?? "null")}"
    }
}
