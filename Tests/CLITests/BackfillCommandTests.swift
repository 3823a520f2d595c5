import ArchiveStore
import ArchiveTestSupport
import Foundation
import Synchronization
import Testing

/// `circle-archive backfill` as people run it, against the fake CircleCI API on loopback.
@Suite struct BackfillCommandTests {
    @Test func backfillStoresTheProjectAndPrintsASummaryOnStderr() async throws {
        let fake = FakeCircleCI(projects: [APIFixtures.projectSlug: widgets(pipelines: 5)])
        // CircleCI still has the first pipeline's two jobs, and the tests of one of them.
        fake.state.withLock { state in
            for number in [10, 11] { state.jobDetails["\(APIFixtures.projectSlug)/\(number)"] = APIFixtures.jobDetails(number: number) }
            state.tests["\(APIFixtures.projectSlug)/11"] = (1...3).map { APIFixtures.test(name: "test\($0)") }
        }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
        let arguments = ["backfill", "--db", path, "--project", APIFixtures.projectSlug, "--api-url", url, "--since", "30d"]
        let result = try await run(arguments, environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderr.hasPrefix("backfilled gh/acme/widgets: 5 pipelines, 5 workflows, 10 jobs (skipped 1 approval job), 13 requests, "),
            "\(result.stderr)"
        )
        #expect(!result.stderr.contains(FakeCircleCI.token))
        // The backfilled jobs were then enriched: two with their details (and three tests), the
        // others recorded unavailable (data past CircleCI's retention), once; the running one
        // waits until it completes.
        #expect(result.stderr.contains("enriched 2 (3 test results), 7 no longer at CircleCI"), "\(result.stderr)")
        let enriched = try await run([
            "query", "--db", path, "-f", "csv",
            "SELECT job_number, resource_class, queue_seconds IS NOT NULL FROM job_runs WHERE resource_class IS NOT NULL ORDER BY 1",
        ])
        #expect(enriched.stdout == "job_number,resource_class,queue_seconds IS NOT NULL\r\n10,large,1\r\n11,large,1\r\n", "\(enriched.stdout)")
        let reader = try ArchiveReader.open(path: path)
        var rows = RowCollector()
        try reader.query("SELECT count(*), group_concat(DISTINCT source) FROM jobs", into: &rows)
        #expect(rows.rows == [[.integer(10), .text("api")]])
        let stats = try await run(["stats", "--db", path, "--format", "csv"])
        #expect(stats.stdout.contains("rows.jobs.from_api,10"), "\(stats.stdout)")
        #expect(stats.stdout.contains("backfilled.gh/acme/widgets,first pipeline to \(time(5))"), "\(stats.stdout)")

        // Run again: nothing new, nothing fetched but the project and the newest page (and the running pipeline).
        let again = try await run(arguments + ["--no-enrich"], environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(again.status == 0)
        #expect(!again.stderr.contains("enriched"), "\(again.stderr)")
        #expect(again.stderr.hasPrefix("backfilled gh/acme/widgets: 1 pipeline, 1 workflow, 2 jobs, 4 requests"), "\(again.stderr)")
    }

    /// The webhooks' spelling of the slug works, and a pipeline CircleCI answers 404 for is named,
    /// skipped and counted while the rest is stored (exit 0).
    @Test func aPipelineWhoseWorkflowsAnswer404IsSkippedAndTheRestStored() async throws {
        let fake = FakeCircleCI(projects: [APIFixtures.projectSlug: widgets(pipelines: 5, runningNewest: false)])
        fake.state.withLock { $0.faults["/api/v2/pipeline/pipeline-2/workflow"] = [(404, nil)] }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
        let arguments = ["backfill", "--db", path, "--project", "github/acme/widgets", "--api-url", url, "--since", "30d"]
        let result = try await run(arguments, environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stderr.contains("CircleCI has no /pipeline/pipeline-2/workflow (404); skipped pipeline 2 for now, the next run asks again"),
            "\(result.stderr)"
        )
        #expect(
            result.stderr.contains("backfilled gh/acme/widgets: 4 pipelines (skipped 1 CircleCI answered 404 for; the next run asks again)"),
            "\(result.stderr)"
        )
        let again = try await run(arguments, environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(again.status == 0 && again.stderr.contains("backfilled gh/acme/widgets: 1 pipeline,"), "\(again.stderr)")
    }

    @Test func mistakesAreExplainedWithTheirExitCodes() async throws {
        let fake = FakeCircleCI(projects: [APIFixtures.projectSlug: widgets(pipelines: 1)])
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let directory = try makeTemporaryDirectory()
        let base = ["backfill", "--db", directory.appendingPathComponent("a.sqlite").path, "--api-url", url]

        let noToken = try await run(base + ["--project", APIFixtures.projectSlug])
        #expect(noToken.status == 2 && noToken.stderr.contains("CIRCLE_TOKEN"), "\(noToken.stderr)")
        let noProject = try await run(base, environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(noProject.status == 2 && noProject.stderr.contains("--project"), "\(noProject.stderr)")
        for slug in ["acme/widgets", "gh/acme/widgets/", "gh//widgets"] {
            let malformed = try await run(base + ["--project", slug], environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
            #expect(malformed.status == 2 && malformed.stderr.contains("is not a project slug"), "\(slug): \(malformed.stderr)")
        }
        #expect(!fake.requests.contains { $0.contains("acme/widgets/") || $0.contains("//") }, "nothing was asked for a malformed slug")
        let badToken = try await run(base + ["--project", APIFixtures.projectSlug], environment: ["CIRCLE_TOKEN": "not-it"])
        #expect(badToken.status == 1 && badToken.stderr.contains("refused the token (401)"), "\(badToken.stderr)")
        #expect(!badToken.stderr.contains("not-it"))
        let unknown = try await run(base + ["--project", "gh/acme/nope"], environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(unknown.status == 1 && unknown.stderr.contains("gh/acme/nope") && unknown.stderr.contains("404"), "\(unknown.stderr)")
    }

    /// Ctrl-C while CircleCI makes it wait: exit 130 at once, the pages stored so far kept, and the
    /// next run goes on from there.
    @Test func ctrlCStopsAtOnceAndKeepsWhatWasStored() async throws {
        let fake = FakeCircleCI(projects: [APIFixtures.projectSlug: widgets(pipelines: 8, runningNewest: false)])
        let secondPage = "/api/v2/project/gh/acme/widgets/pipeline?page-token=page-3"
        fake.state.withLock { $0.faults[secondPage] = [(429, "60")] }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
        let process = Process()
        process.executableURL = binary
        process.arguments = ["backfill", "--db", path, "--project", APIFixtures.projectSlug, "--api-url", url, "--since", "30d"]
        process.environment = ["CIRCLE_TOKEN": FakeCircleCI.token]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while !fake.requests.contains(secondPage), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        let interrupted = ContinuousClock.now
        process.interrupt()
        try await blockingWork { process.waitUntilExit() }
        #expect(ContinuousClock.now - interrupted < .seconds(5))
        #expect(process.terminationStatus == 130)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("interrupted; every page stored so far is kept"), "\(stderr)")
        let resumed = try await run(
            ["backfill", "--db", path, "--project", APIFixtures.projectSlug, "--api-url", url, "--since", "30d"],
            environment: ["CIRCLE_TOKEN": FakeCircleCI.token]
        )
        #expect(resumed.status == 0)
        #expect(resumed.stderr.hasPrefix("backfilled gh/acme/widgets: 5 pipelines"), "the first page was kept: \(resumed.stderr)")
    }
}
