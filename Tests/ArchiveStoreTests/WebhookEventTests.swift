import ArchiveTestSupport
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

@Suite struct WebhookEventTests {
    private func parse(_ text: String) throws -> WebhookEvent {
        try WebhookEvent(parsing: Array(text.utf8))
    }

    @Test func pingHasOnlyEventFields() throws {
        let event = try parse(Fixtures.ping)
        #expect(event.id == "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c")
        #expect(event.type == "ping")
        #expect(event.happenedAt.iso8601 == "2024-03-05T10:15:02.123Z")
        #expect(event.webhookName == "archive")
        #expect(event.organization == nil && event.project == nil && event.pipeline == nil)
        #expect(event.workflow == nil && event.job == nil)
    }

    @Test func workflowCompletedCarriesPipelineCommitAndStatus() throws {
        let event = try parse(Fixtures.workflowCompleted())
        #expect(event.organization == OrganizationRecord(id: Fixtures.organizationID, name: "acme"))
        #expect(
            event.project == ProjectRecord(id: Fixtures.projectID, slug: "gh/acme/widgets", name: "widgets", organizationID: Fixtures.organizationID)
        )
        let pipeline = try #require(event.pipeline)
        #expect(pipeline.number == 130)
        #expect(pipeline.projectID == Fixtures.projectID)
        #expect(pipeline.triggerType == "webhook")
        #expect(pipeline.triggerActorID == "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9")
        #expect(pipeline.vcsProviderName == "github")
        #expect(pipeline.vcsBranch == "main")
        #expect(pipeline.vcsTag == nil)
        #expect(pipeline.vcsRevision == "1dc6aa69429bff4806ad6afe58d3d8f57e25973e")
        #expect(pipeline.commitSubject == "Fix flaky retry test")
        #expect(pipeline.commitBody == "The retry loop, \"again\".\nSecond line, with a comma.")
        #expect(pipeline.commitAuthorEmail == "ada@example.com")
        #expect(pipeline.commitCommittedAt?.iso8601 == "2024-03-05T09:09:55.000Z")
        let workflow = try #require(event.workflow)
        #expect(workflow.status == "success")
        #expect(workflow.pipelineID == Fixtures.pipelineID)
        #expect(workflow.stoppedAt?.iso8601 == "2024-03-05T10:14:34.170Z")
        #expect(event.job == nil)
    }

    @Test func jobCompletedCarriesTheJobAndAWorkflowWithoutStatus() throws {
        let event = try parse(Fixtures.jobCompleted())
        let job = try #require(event.job)
        #expect(
            job
                == JobRecord(
                    id: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
                    number: 136,
                    name: "test",
                    status: "success",
                    startedAt: Timestamp(iso8601: "2024-03-05T10:11:28.841Z"),
                    stoppedAt: Timestamp(iso8601: "2024-03-05T10:12:34.170Z"),
                    workflowID: Fixtures.workflowID,
                    pipelineID: Fixtures.pipelineID,
                    projectID: Fixtures.projectID
                )
        )
        #expect(event.workflow?.status == nil)
        #expect(event.workflow?.name == "build-test-deploy")
        #expect(event.jobID == job.id)
    }

    @Test func gitlabPipelinesFillCommitFieldsFromTriggerParameters() throws {
        for text in [Fixtures.gitlabWorkflowCompleted, Fixtures.gitlabJobCompleted] {
            let pipeline = try #require(try parse(text).pipeline)
            #expect(pipeline.vcsProviderName == "gitlab")
            #expect(pipeline.vcsBranch == "release")
            #expect(pipeline.vcsTag == nil, "empty strings in trigger_parameters mean absent")
            #expect(pipeline.vcsRevision == "850a1519f25d14e968649cc420d1bd381715c05c")
            #expect(pipeline.vcsTargetRepositoryURL == "https://gitlab.com/acme/gadgets")
            #expect(pipeline.commitSubject == "Bump version")
            #expect(pipeline.commitBody == "Release 1.2.0")
            #expect(pipeline.commitAuthorName == "Grace Hopper")
            #expect(pipeline.commitAuthorEmail == "grace@example.com")
            #expect(pipeline.commitAuthoredAt?.iso8601 == "2024-04-13T11:10:16.000Z")
            #expect(pipeline.triggerType == "gitlab")
        }
        let job = try #require(try parse(Fixtures.gitlabJobCompleted).job)
        #expect(job.status == "failed" && job.workflowID == "6a7b8c9d-0e1f-4a2b-83c4-d5e6f7a8b9c0")
    }

    @Test func githubAppPipelinesUseGitAndGithubAppMaps() throws {
        let event = try parse(Fixtures.githubAppJobCompleted)
        let pipeline = try #require(event.pipeline)
        #expect(pipeline.vcsProviderName == "github_app")
        #expect(pipeline.vcsBranch == "setup")
        #expect(pipeline.vcsRevision == "9e2e4bed59d2e6c51d00e0e0b49f1b79ff146ab1")
        #expect(pipeline.commitSubject == "Add CircleCI config")
        #expect(pipeline.commitAuthorName == nil)
        #expect(pipeline.vcsTargetRepositoryURL == nil)
        #expect(event.happenedAt.iso8601Microseconds == "2024-12-18T18:51:31.379158Z")
        #expect(event.job?.name == "say-hello")
    }

    @Test func futureEventTypesAreArchivedWithoutRunRows() throws {
        let event = try parse(Fixtures.futureEvent)
        #expect(event.type == "pipeline-started")
        #expect(event.project != nil && event.pipeline?.number == 131)
        #expect(event.workflow == nil && event.job == nil)
    }

    @Test func oddlyTypedOptionalFieldsBecomeNull() throws {
        let text = """
            {"id":"x1","type":"job-completed","happened_at":"2024-01-01T00:00:00Z","webhook":"not a map",\
            "project":{"id":42},"pipeline":{"id":"p1","number":"7","created_at":"yesterday","vcs":[]},\
            "workflow":{"id":"w1","status":null,"name":["x"]},"job":{"id":"j1","number":3.5,"status":7,"started_at":12}}
            """
        let event = try parse(text)
        #expect(event.webhookID == nil && event.projectID == nil && event.project == nil)
        #expect(event.pipeline == PipelineRecord(id: "p1"))
        #expect(event.workflow == WorkflowRecord(id: "w1", pipelineID: "p1"))
        #expect(event.job == JobRecord(id: "j1", workflowID: "w1", pipelineID: "p1"))
    }

    @Test(arguments: [
        ("[1,2]", "not a JSON object"),
        ("null", "not a JSON object"),
        ("\"ping\"", "not a JSON object"),
        ("", "empty document"),
        ("{\"type\":\"ping\",\"id\":\"a\"", "unexpected end"),
        (#"{"type":"ping","happened_at":"2021-02-03T23:49:03Z"}"#, "\"id\""),
        (#"{"type":"ping","id":7,"happened_at":"2021-02-03T23:49:03Z"}"#, "\"id\""),
        (#"{"type":"ping","id":"","happened_at":"2021-02-03T23:49:03Z"}"#, "\"id\""),
        (#"{"id":"a","happened_at":"2021-02-03T23:49:03Z"}"#, "\"type\""),
        (#"{"id":"a","type":null,"happened_at":"2021-02-03T23:49:03Z"}"#, "\"type\""),
        (#"{"id":"a","type":"ping"}"#, "\"happened_at\""),
        (#"{"id":"a","type":"ping","happened_at":"last tuesday"}"#, "unparseable \"happened_at\""),
        (#"{"id":"a","type":"ping","happened_at":1612396143}"#, "\"happened_at\""),
        (#"{"id":"\#(String(repeating: "a", count: 257))","type":"ping","happened_at":"2021-02-03T23:49:03Z"}"#, "\"id\" longer than 256 bytes"),
        (
            #"{"id":"a","type":"ping","happened_at":"2021-02-03T23:49:03Z","job":{"id":"\#(String(repeating: "é", count: 129))"}}"#,
            "\"job.id\" longer than 256 bytes"
        ),
        (#"{"id":"a\u0000b","type":"ping","happened_at":"2021-02-03T23:49:03Z"}"#, "\"id\" contains a NUL character"),
    ])
    func malformedEventsAreRejectedWithAReason(text: String, reason: String) {
        #expect {
            try parse(text)
        } throws: { error in
            (error as? MalformedEvent)?.reason.contains(reason) == true
        }
    }

    @Test func identifiersUpToTheLimitAreAccepted() throws {
        let id = String(repeating: "a", count: WebhookEvent.maximumIdentifierBytes)
        #expect(try parse(#"{"id":"\#(id)","type":"ping","happened_at":"2021-02-03T23:49:03Z"}"#).id == id)
    }
}
