import ArchiveModel
import ArchiveStore
import ArchiveTestSupport
import Foundation
import Synchronization
import Testing

@testable import ArchiveBackfill

/// The pipeline-list requests among `requests`.
func pipelinePages(_ requests: [String]) -> [String] {
    requests.filter { $0.hasPrefix("/api/v2/project/gh/acme/widgets/pipeline") }
}

@Suite struct BackfillTests {
    static let since = Timestamp(iso8601: time(-30 * 24))!

    static func options(
        _ url: String,
        projects: [String] = [APIFixtures.projectSlug],
        since: Timestamp = since,
        branch: String? = nil,
        token: String = FakeCircleCI.token
    ) -> BackfillOptions {
        BackfillOptions(connection: connection(url, token: token), projectSlugs: projects, since: since, branch: branch)
    }

    /// The fake's URL, with short retries.
    static func connection(_ url: String, token: String = FakeCircleCI.token) -> APIConnection {
        APIConnection(
            url: url,
            token: token,
            concurrency: 3,
            retry: RetryPolicy(attempts: 3, baseDelay: .milliseconds(5), maximumDelay: .milliseconds(20), maximumRetryAfter: .seconds(2)),
            timeout: .seconds(10)
        )
    }

    /// Runs `test` with a fresh archive and the fake API serving `projects`.
    func withFake(
        _ projects: [String: FakeCircleCI.Project],
        pageSize: Int = 3,
        _ test: (FakeCircleCI, String, ArchiveStore) async throws -> Void
    ) async throws {
        let fake = FakeCircleCI(projects: projects, pageSize: pageSize)
        let (url, stop) = await fake.serve()
        let store = try ArchiveStore(path: try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path)
        do {
            try await test(fake, url, store)
        } catch {
            await stop()
            throw error
        }
        try store.close()
        await stop()
    }

    @Test func everyPageIsStoredWithItsWorkflowsAndJobsThroughRateLimitsAndServerErrors() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8)]) { fake, url, store in
            fake.state.withLock { state in
                state.faults["/api/v2/project/gh/acme/widgets/pipeline?page-token=page-3"] = [(429, "1")]
                state.faults["/api/v2/workflow/workflow-5/job"] = [(500, nil), (502, nil)]
            }
            let events = EventLog()
            let started = ContinuousClock.now
            let counts = try await Backfiller(store: store, options: Self.options(url)) { event in
                events.events.withLock { $0.append(event) }
            }.run()
            #expect(ContinuousClock.now - started >= .seconds(1), "Retry-After: 1 was honored")
            let expected: [Int] = [8, 8, 16, 2]
            #expect([counts.pipelines, counts.workflows, counts.jobs, counts.approvalsSkipped] == expected)
            #expect(counts.retries == 3)
            #expect(counts.requests == fake.requests.count)
            let retried = events.events.withLock { events in
                events.compactMap { event -> String? in if case .retrying(let path, _, _) = event { path } else { nil } }
            }
            #expect(retried.sorted() == ["/project/gh/acme/widgets/pipeline", "/workflow/workflow-5/job", "/workflow/workflow-5/job"])

            let reader = store.reader
            #expect(try reader.texts("SELECT count(*), min(number), max(number), group_concat(DISTINCT source) FROM pipelines") == ["8|1|8|api"])
            #expect(try reader.texts("SELECT count(*), count(DISTINCT workflow_id) FROM jobs") == ["16|8"])
            #expect(try reader.texts("SELECT count(*) FROM jobs WHERE name = 'hold'") == ["0"])
            #expect(
                try reader.texts("SELECT name, status FROM jobs WHERE pipeline_id = 'pipeline-8' ORDER BY name") == ["lint|success", "test|running"]
            )
            #expect(try reader.texts("SELECT status FROM workflows WHERE id = 'workflow-8'") == ["running"])
            #expect(
                try reader.texts("SELECT job_name, project_slug, branch, duration_seconds FROM job_runs WHERE job_id = 'job-1-lint'")
                    == ["lint|gh/acme/widgets|main|600.0"]
            )
            // The walk reached the first pipeline; the running one is listed for the next run.
            let progress = try #require(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: ""))
            #expect(progress.coveredFrom == nil && progress.coveredTo == Timestamp(iso8601: time(8)))
            #expect(
                try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: Self.since)
                    .map(\.id) == ["pipeline-8"]
            )
        }
    }

    /// A pipeline whose workflows CircleCI answers 404 for is skipped, counted and recorded; the
    /// rest of the project is stored, and the next run asks about that pipeline again.
    @Test func aPipelineCircleCICannotAnswerForIsSkippedAndRetriedNextRun() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)]) { fake, url, store in
            fake.state.withLock { $0.faults["/api/v2/pipeline/pipeline-3/workflow"] = [(404, nil)] }
            let events = EventLog()
            let first = try await Backfiller(store: store, options: Self.options(url)) { event in events.events.withLock { $0.append(event) } }.run()
            #expect(first.pipelines == 7 && first.pipelinesSkipped == 1)
            #expect(events.events.withLock { $0.contains { if case .skipped(3, "/pipeline/pipeline-3/workflow") = $0 { true } else { false } } })
            #expect(try store.reader.texts("SELECT count(*) FROM pipelines") == ["8"], "the listed pipeline itself is kept")
            #expect(try store.reader.texts("SELECT count(*) FROM workflows WHERE pipeline_id = 'pipeline-3'") == ["0"])
            #expect(try store.reader.texts("SELECT count(*) FROM workflows") == ["7"])
            #expect(
                try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: Self.since)
                    .map(\.id) == ["pipeline-3"]
            )

            fake.state.withLock { $0.requests = [] }
            let second = try await Backfiller(store: store, options: Self.options(url)).run()
            #expect(second.pipelines == 1 && second.pipelinesSkipped == 0)
            #expect(fake.requests.contains("/api/v2/pipeline/pipeline-3/workflow"))
            #expect(try store.reader.texts("SELECT count(*) FROM workflows") == ["8"])
            #expect(
                try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: Self.since)
                    .isEmpty
            )
        }
    }

    /// `github/ORG/REPO`, as webhooks spell it, is the same project as `gh/ORG/REPO`: the API is
    /// asked with the short form, and the two spellings share one record of progress.
    @Test func eitherSpellingOfASlugBackfillsAndResumesTheSameProject() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)]) { fake, url, store in
            let first = try await Backfiller(store: store, options: Self.options(url, projects: ["github/acme/widgets", "gh/acme/widgets"])).run()
            #expect(first.pipelines == 8, "once, not once per spelling")
            #expect(fake.requests.allSatisfy { !$0.contains("github/") }, "\(fake.requests)")
            #expect(try store.reader.texts("SELECT slug FROM projects") == ["gh/acme/widgets"])
            fake.state.withLock { $0.requests = [] }
            let second = try await Backfiller(store: store, options: Self.options(url, projects: ["github/acme/widgets"])).run()
            #expect(second.pipelines == 0 && pipelinePages(fake.requests) == ["/api/v2/project/gh/acme/widgets/pipeline"], "\(fake.requests)")
        }
    }

    @Test func aSecondRunAsksOnlyForWhatIsNew() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8)]) { fake, url, store in
            _ = try await Backfiller(store: store, options: Self.options(url)).run()
            #expect(pipelinePages(fake.requests).count == 3)
            // Meanwhile pipeline 8 finished and pipeline 9 started.
            fake.state.withLock { state in
                state.projects[APIFixtures.projectSlug] = widgets(pipelines: 9)
                state.requests = []
            }
            let counts = try await Backfiller(store: store, options: Self.options(url)).run()
            let requests = fake.requests
            #expect(pipelinePages(requests) == ["/api/v2/project/gh/acme/widgets/pipeline"], "only the newest page: \(requests)")
            // The project, the newest page, and the two pipelines that could have changed.
            #expect(requests.count == 6, "\(requests)")
            #expect(counts.pipelines == 2)
            #expect(try store.reader.texts("SELECT status FROM jobs WHERE id = 'job-8-test'") == ["success"])
            #expect(try store.reader.texts("SELECT count(*) FROM pipelines") == ["9"])
            #expect(
                try store.unfinishedBackfilledPipelines(projectSlug: APIFixtures.projectSlug, projectID: Fixtures.projectID, since: Self.since)
                    .map(\.id) == ["pipeline-9"]
            )
        }
    }

    @Test func anInterruptedRunContinuesWhereItStopped() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)]) { fake, url, store in
            let thirdPage = "/api/v2/project/gh/acme/widgets/pipeline?page-token=page-6"
            fake.state.withLock { $0.broken = [thirdPage] }
            await #expect(throws: BackfillError.self) { try await Backfiller(store: store, options: Self.options(url)).run() }
            // The two pages before the failure are stored, with how far they got.
            #expect(try store.reader.texts("SELECT min(number), max(number) FROM pipelines") == ["3|8"])
            let progress = try #require(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: ""))
            #expect(progress.coveredFrom == Timestamp(iso8601: time(3)) && progress.pageToken == "page-6")

            fake.state.withLock { state in
                state.broken = []
                state.requests = []
            }
            let counts = try await Backfiller(store: store, options: Self.options(url)).run()
            let pages = pipelinePages(fake.requests)
            // The newest page (anything new?), then straight to the page that failed.
            #expect(pages == ["/api/v2/project/gh/acme/widgets/pipeline", thirdPage], "\(pages)")
            #expect(counts.pipelines == 2)
            #expect(try store.reader.texts("SELECT count(*), min(number), max(number) FROM pipelines") == ["8|1|8"])
            #expect(try store.reader.texts("SELECT count(*) FROM jobs") == ["16"])
            #expect(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "")?.coveredFrom == nil)
        }
    }

    @Test func sinceStopsTheWalkAndALongerSinceContinuesIt() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)]) { fake, url, store in
            let since = try #require(Timestamp(iso8601: time(4, minutes: 30)))
            _ = try await Backfiller(store: store, options: Self.options(url, since: since, branch: "main")).run()
            #expect(try store.reader.texts("SELECT min(number), max(number) FROM pipelines") == ["5|8"])
            #expect(fake.requests.contains("/api/v2/project/gh/acme/widgets/pipeline?branch=main"))
            let progress = try #require(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "main"))
            #expect(progress.coveredFrom == since && progress.pageToken == "page-3")
            #expect(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: "") == nil)

            fake.state.withLock { $0.requests = [] }
            _ = try await Backfiller(store: store, options: Self.options(url, branch: "main")).run()
            #expect(try store.reader.texts("SELECT min(number), max(number) FROM pipelines") == ["1|8"])
            // Pipelines 5 to 8 were not asked about again.
            #expect(!fake.requests.contains { $0.contains("pipeline-5/") || $0.contains("pipeline-8/") }, "\(fake.requests)")
            #expect(
                pipelinePages(fake.requests) == [
                    "/api/v2/project/gh/acme/widgets/pipeline?branch=main", "/api/v2/project/gh/acme/widgets/pipeline?branch=main&page-token=page-3",
                    "/api/v2/project/gh/acme/widgets/pipeline?branch=main&page-token=page-6",
                ]
            )
        }
    }

    /// A page token saved by an earlier run that CircleCI no longer accepts: page down from the
    /// newest page instead, without asking about the pipelines already stored.
    @Test func anExpiredPageTokenFallsBackToPagingFromTheTop() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)]) { fake, url, store in
            let since = try #require(Timestamp(iso8601: time(4, minutes: 30)))
            _ = try await Backfiller(store: store, options: Self.options(url, since: since)).run()
            var progress = try #require(try store.backfillProgress(projectSlug: APIFixtures.projectSlug, branch: ""))
            progress.pageToken = "expired"
            let (organization, project) = try #require(APIRecords.project(try JSONValue(parsing: Array(APIFixtures.project.utf8))))
            try await store.merge(BackfillBatch(organization: organization, project: project, pipelines: [], progress: progress, fetchedAt: .now()))

            fake.state.withLock { $0.requests = [] }
            let events = EventLog()
            _ = try await Backfiller(store: store, options: Self.options(url)) { event in events.events.withLock { $0.append(event) } }.run()
            #expect(try store.reader.texts("SELECT min(number), max(number) FROM pipelines") == ["1|8"])
            #expect(
                pipelinePages(fake.requests) == [
                    "/api/v2/project/gh/acme/widgets/pipeline", "/api/v2/project/gh/acme/widgets/pipeline?page-token=expired",
                    "/api/v2/project/gh/acme/widgets/pipeline", "/api/v2/project/gh/acme/widgets/pipeline?page-token=page-3",
                    "/api/v2/project/gh/acme/widgets/pipeline?page-token=page-6",
                ]
            )
            // Pipelines 5 to 8 were stored by the first run and not asked about again.
            #expect(!fake.requests.contains { $0.contains("/pipeline-5/") || $0.contains("/pipeline-8/") }, "\(fake.requests)")
            #expect(events.events.withLock { $0.contains { if case .pagingFromNewest(_, 400) = $0 { true } else { false } } })
        }
    }

    @Test func gitLabPipelinesWithoutVcsAreStoredFromTheirTriggerParameters() async throws {
        let slug = "circleci/DdaVtNus/6EkDPZoN"
        let project = FakeCircleCI.Project(
            json:
                #"{"slug":"\#(slug)","name":"gadgets","id":"8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d","organization_name":"acme-gitlab","organization_id":"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"}"#,
            pipelines: [
                FakeCircleCI.Pipeline(
                    id: "gitlab-1",
                    json: APIFixtures.gitlabPipeline(id: "gitlab-1", number: 7, createdAt: "2026-11-02T11:10:18.804Z"),
                    workflows: [
                        FakeCircleCI.Workflow(
                            id: "gitlab-w1",
                            json: APIFixtures.workflow(
                                id: "gitlab-w1",
                                pipelineID: "gitlab-1",
                                pipelineNumber: 7,
                                name: "build",
                                status: "failed",
                                createdAt: "2026-11-02T11:10:19.631Z",
                                stoppedAt: "2026-11-02T11:20:13.812Z",
                                projectSlug: slug
                            ),
                            jobs: [
                                APIFixtures.job(
                                    id: "gitlab-j1",
                                    number: 12,
                                    name: "say-hello",
                                    status: "failed",
                                    startedAt: "2026-11-02T11:19:37.435Z",
                                    stoppedAt: "2026-11-02T11:19:59.982Z"
                                )
                            ]
                        )
                    ]
                )
            ]
        )
        try await withFake([slug: project]) { _, url, store in
            let since = try #require(Timestamp(iso8601: "2026-01-01T00:00:00Z"))
            _ = try await Backfiller(store: store, options: Self.options(url, projects: [slug], since: since)).run()
            #expect(
                try store.reader.texts(
                    """
                    SELECT project_slug, organization_name, branch, revision, job_name, job_status, duration_seconds FROM job_runs
                    """
                ) == ["circleci/DdaVtNus/6EkDPZoN|acme-gitlab|release|c0ffee00|say-hello|failed|22.547"]
            )
            #expect(
                try store.reader.texts("SELECT vcs_provider_name, commit_subject, commit_author_name FROM pipelines")
                    == ["gitlab|Bump version|Grace Hopper"]
            )
        }
    }

    @Test func aBadTokenAndAnUnknownProjectSayWhatToFix() async throws {
        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 1)]) { _, url, store in
            do throws(BackfillError) {
                _ = try await Backfiller(store: store, options: Self.options(url, token: "wrong")).run()
                Issue.record("a wrong token was accepted")
            } catch {
                guard error.code == .unauthorized, error.status == 401 else {
                    Issue.record("\(error)")
                    return
                }
                #expect(error.description.contains("CIRCLE_TOKEN") && !error.description.contains("wrong"))
            }
            do throws(BackfillError) {
                _ = try await Backfiller(store: store, options: Self.options(url, projects: ["gh/acme/nope"])).run()
                Issue.record("an unknown project was accepted")
            } catch {
                guard error.code == .notFound else {
                    Issue.record("\(error)")
                    return
                }
                #expect(error.description.contains("gh/acme/nope") && error.description.contains("gh/ORG/REPO"))
            }
        }
    }

    /// A network failure is not something CircleCI answered: the retry message says it could not
    /// reach the host, and why in a few words.
    @Test func networkFailuresSayTheHostCouldNotBeReached() async throws {
        struct Failure: Error, CustomStringConvertible {
            let description: String
        }
        #expect(
            CircleCIClient.describe(
                Failure(description: "DNS error: SocketAddressError.UnknownHost: Name or service not known (error -2) for host x, port 443")
            )
                == "the name does not resolve (DNS)"
        )
        #expect(
            CircleCIClient.describe(Failure(description: "connect(descriptor:addr:size:): Connection refused (errno: 111)")) == "connection refused"
        )
        // Nothing listens on a port just closed: every retry says so, and the last error too.
        let port = try freePort()
        var options = Self.options("http://127.0.0.1:\(port)/api/v2")
        options.connection.retry.attempts = 2
        // A refused connection fails at once; the timeout only has to outlast a loaded machine.
        options.connection.timeout = .seconds(5)
        let store = try ArchiveStore(path: try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path)
        let events = EventLog()
        do throws(BackfillError) {
            _ = try await Backfiller(store: store, options: options) { event in events.events.withLock { $0.append(event) } }.run()
            Issue.record("a closed port answered")
        } catch {
            #expect(error.description.contains("cannot reach 127.0.0.1: connection refused"), "\(error)")
        }
        let reasons = events.events.withLock { $0.compactMap { if case .retrying(_, let reason, _) = $0 { reason } else { nil } } }
        #expect(reasons == ["cannot reach 127.0.0.1: connection refused"], "\(reasons)")
        try store.close()
    }

    @Test func retryAfterIsReadAsSecondsOrAsAnHTTPDate() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(CircleCIClient.retryAfter("7", now: now) == .seconds(7))
        #expect(CircleCIClient.retryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        #expect(CircleCIClient.retryAfter("soon", now: now) == nil && CircleCIClient.retryAfter(nil, now: now) == nil)
        #expect(CircleCIClient.escape("a+b/c=") == "a%2Bb%2Fc%3D")
        let policy = RetryPolicy(attempts: 5, baseDelay: .seconds(1), maximumDelay: .seconds(4))
        for attempt in 1...5 {
            let delay = policy.backoff(afterAttempt: attempt)
            let nominal = min(Duration.seconds(1 << (attempt - 1)), .seconds(4))
            #expect(delay >= nominal * 0.5 && delay <= nominal * 1.5, "attempt \(attempt): \(delay)")
        }
    }

    /// What README promises of the defaults, and a Retry-After longer than the cap waits the cap.
    @Test func retriesFollowTheDocumentedDefaultsAndALongRetryAfterIsCapped() async throws {
        let defaults = RetryPolicy()
        #expect(defaults.attempts == 6 && defaults.baseDelay == .milliseconds(500) && defaults.maximumDelay == .seconds(30))
        #expect(defaults.maximumRetryAfter == .seconds(120))
        let connection = APIConnection(token: "t")
        #expect(connection.timeout == .seconds(30) && connection.concurrency == 4 && connection.url == "https://circleci.com/api/v2")

        try await withFake([APIFixtures.projectSlug: widgets(pipelines: 2)]) { fake, url, store in
            fake.state.withLock { $0.faults["/api/v2/project/gh/acme/widgets"] = [(429, "3600")] }
            var capped = Self.options(url)
            capped.connection.retry.maximumRetryAfter = .milliseconds(50)
            let started = ContinuousClock.now
            let counts = try await Backfiller(store: store, options: capped).run()
            #expect(counts.pipelines == 2 && counts.retries == 1)
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    /// A webhook and a backfill of the same run give the rows the webhook alone gives.
    @Test func backfillAgreesWithWebhooksForTheSameJobs() async throws {
        let project = FakeCircleCI.Project(
            json: APIFixtures.project,
            pipelines: [
                FakeCircleCI.Pipeline(
                    id: Fixtures.pipelineID,
                    json: APIFixtures.pipeline(),
                    workflows: [FakeCircleCI.Workflow(id: Fixtures.workflowID, json: APIFixtures.workflow(), jobs: [APIFixtures.job()])]
                )
            ]
        )
        let columns =
            "SELECT job_id, job_number, job_name, job_status, started_at, stopped_at, duration_seconds, workflow_name, "
            + "pipeline_number, project_slug, organization_name, branch, revision, trigger_type, job_url FROM job_runs"
        let webhooksOnly = try ArchiveStore(path: try makeTemporaryDirectory().appendingPathComponent("w.sqlite").path)
        for event in [Fixtures.jobCompleted(), Fixtures.workflowCompleted()] { _ = try await webhooksOnly.receive(Delivery(body: Array(event.utf8))) }
        let expected = try webhooksOnly.reader.texts(columns)
        try webhooksOnly.close()
        #expect(expected.count == 1)
        try await withFake([APIFixtures.projectSlug: project]) { _, url, store in
            _ = try await store.receive(Delivery(body: Array(Fixtures.jobCompleted().utf8)))
            _ = try await Backfiller(store: store, options: Self.options(url, since: Timestamp(iso8601: "2024-01-01T00:00:00Z")!)).run()
            _ = try await store.receive(Delivery(body: Array(Fixtures.workflowCompleted().utf8)))
            #expect(try store.reader.texts(columns) == expected)
            #expect(try store.reader.texts("SELECT source FROM jobs") == ["webhook"])
        }
    }
}

final class EventLog: Sendable {
    let events = Mutex<[BackfillEvent]>([])
}
