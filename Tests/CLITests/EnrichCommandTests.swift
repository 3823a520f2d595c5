import ArchiveStore
import ArchiveTestSupport
import Foundation
import Synchronization
import Testing

/// `circle-archive enrich` as people run it, against the fake CircleCI API on loopback.
@Suite struct EnrichCommandTests {
    @Test func enrichFetchesWhatWebhooksLeftOutAndARerunAsksNothing() async throws {
        let fake = FakeCircleCI(projects: [:], pageSize: 2)
        fake.state.withLock { state in
            state.jobDetails["gh/acme/widgets/1"] = APIFixtures.jobDetails(number: 1)
            state.jobDetails["gh/acme/widgets/2"] = APIFixtures.jobDetails(number: 2)
            state.tests["gh/acme/widgets/1"] = (1...3).map { APIFixtures.test(name: "test\($0)") }
        }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let directory = try makeTemporaryDirectory()
        let file = directory.appendingPathComponent("events.jsonl")
        try (1...3).map { Fixtures.jobCompleted(id: "e\($0)", jobID: "j\($0)", number: $0) }.joined(separator: "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("a.sqlite").path
        #expect(try await run(["import", "--db", path, file.path]).status == 0)

        let arguments = ["enrich", "--db", path, "--api-url", url]
        let noToken = try await run(arguments)
        #expect(noToken.status == 2 && noToken.stderr.contains("CIRCLE_TOKEN"), "\(noToken.stderr)")
        let result = try await run(arguments, environment: ["CIRCLE_TOKEN": FakeCircleCI.token])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("queued 3 jobs; enriched 2 (3 test results), 1 no longer at CircleCI, 6 requests in "), "\(result.stderr)")
        #expect(!result.stderr.contains(FakeCircleCI.token))
        let tests = try await run(["query", "--db", path, "-f", "csv", "SELECT count(*) FROM test_runs"])
        #expect(tests.stdout == "count(*)\r\n3\r\n")
        let export = try await run(["export", "tests", "--db", path, "--format", "jsonl", "--job", "test"])
        #expect(export.status == 0 && export.stdout.split(separator: "\n").count == 3, "\(export)")
        #expect(export.stdout.contains(#""test_name":"test1""#) && export.stdout.contains(#""project_slug":"gh/acme/widgets""#))

        let stats = try await run(["stats", "--db", path, "--format", "csv"])
        for line in ["jobs.enriched,2", "jobs.unavailable,1", "jobs.enrichment_queued,0", "rows.test_results,3"] {
            #expect(stats.stdout.contains(line + "\r\n"), "\(line): \(stats.stdout)")
        }

        // The API's URL from the environment and the token from a file, as serve reads them.
        let tokenFile = directory.appendingPathComponent("token")
        try FakeCircleCI.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let again = try await run(
            ["enrich", "--db", path, "--circleci-token-file", tokenFile.path],
            environment: ["CIRCLE_ARCHIVE_API_URL": url]
        )
        #expect(
            again.status == 0 && again.stderr.hasPrefix("queued 0 jobs; enriched 0 (0 test results), 0 no longer at CircleCI, 0 requests"),
            "\(again.stderr)"
        )
    }
}

/// `serve` with a token enriches each new job in the background; without one it says so.
@Suite struct ServeEnrichmentTests {
    @Test func serveWithATokenEnrichesEachNewJobAndWithoutOneSaysItIsOff() async throws {
        let fake = FakeCircleCI(projects: [:], pageSize: 2)
        fake.state.withLock { state in
            for number in 1...3 { state.jobDetails["gh/acme/widgets/\(number)"] = APIFixtures.jobDetails(number: number) }
            state.tests["gh/acme/widgets/2"] = (1...3).map { APIFixtures.test(name: "test\($0)") }
        }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path
        let server = try ServerProcess(
            arguments: ["--db", path],
            environment: ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_TOKEN": FakeCircleCI.token, "CIRCLE_ARCHIVE_API_URL": url]
        )
        let port = try await blockingWork { try server.waitForPort() }
        let bodies = (1...3).map { Fixtures.jobCompleted(id: "e\($0)", jobID: "j\($0)", number: $0) } + [Fixtures.workflowCompleted()]
        for body in bodies {
            let request = signedDeliveryRequest(Array(body.utf8), secret: "s")
            #expect(try await blockingWork { try rawHTTPExchange(port: port, request: request) }.status == 200)
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var enriched: [String] = []
        while ContinuousClock.now < deadline {
            enriched = (try? ArchiveReader.open(path: path).texts("SELECT count(*) FROM jobs WHERE enrichment_status = 'enriched'")) ?? []
            if enriched == ["3"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(enriched == ["3"], "\(server.output)")
        #expect(try ArchiveReader.open(path: path).texts("SELECT count(*) FROM test_results") == ["3"])
        // /metrics says so: three jobs enriched, none left in the queue (a report may lag by one poll).
        var scrape = ""
        while ContinuousClock.now < deadline {
            let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
            scrape = try await blockingWork { try rawHTTPExchange(port: port, request: request).body }
            if scrape.contains(#"circle_archive_enrichments_total{outcome="enriched"} 3"#) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(scrape.contains(#"circle_archive_enrichments_total{outcome="enriched"} 3"#), "\(scrape)")
        #expect(scrape.contains("circle_archive_enrichment_queue_length 0"), "\(scrape)")
        // Every family served is in README's Metrics table, and every one there is served.
        let families = Set(scrape.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        let documented = try ReadmeInStepTests.backticked(try ReadmeInStepTests.section("Metrics"), matching: "circle_archive_[a-z_]+")
        #expect(
            families == documented,
            "served, not in README: \(families.subtracting(documented)); in README, not served: \(documented.subtracting(families))"
        )
        #expect(try await blockingWork { server.stop() } == 0)
        #expect(!server.output.contains(FakeCircleCI.token))
        #expect(!server.output.contains("enrichment is off"))

        let plain = try ServerProcess(arguments: ["--db", path], environment: ["CIRCLE_ARCHIVE_SECRETS": "s"])
        _ = try await blockingWork { try plain.waitForPort() }
        #expect(try await blockingWork { plain.stop() } == 0)
        #expect(plain.output.contains("enrichment is off: set CIRCLE_TOKEN or pass --circleci-token-file"), "\(plain.output)")
    }

    /// kill -9 while jobs wait in the queue or are being fetched: after a restart the queue
    /// finishes, and no job's tests are stored twice. Jobs 1 and 2 ran the same test on the
    /// same revision, failing once and passing once: the report names it flaky.
    @Test func aKillWhileJobsAreQueuedLosesNothingAndDoublesNothing() async throws {
        let fake = FakeCircleCI(projects: [:], pageSize: 2)
        fake.state.withLock { state in
            for number in 1...12 {
                state.jobDetails["gh/acme/widgets/\(number)"] = APIFixtures.jobDetails(number: number)
                state.tests["gh/acme/widgets/\(number)"] = [
                    APIFixtures.test(name: "saves"), APIFixtures.test(name: "loads"),
                    APIFixtures.test(name: "retries", result: number == 1 ? "failure" : "success"),
                ]
            }
            state.latency = .milliseconds(400)
        }
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path
        let environment = ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_TOKEN": FakeCircleCI.token, "CIRCLE_ARCHIVE_API_URL": url]
        func count(_ sql: String) -> Int { Int((try? ArchiveReader.open(path: path).texts(sql).first) ?? nil ?? "") ?? -1 }

        let first = try ServerProcess(arguments: ["--db", path], environment: environment)
        let port = try await blockingWork { try first.waitForPort() }
        for number in 1...12 {
            let body = Array(Fixtures.jobCompleted(id: "e\(number)", jobID: "j\(number)", number: number).utf8)
            #expect(try await blockingWork { try rawHTTPExchange(port: port, request: signedDeliveryRequest(body, secret: "s")) }.status == 200)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, count("SELECT count(*) FROM jobs WHERE enrichment_status IS NOT NULL") < 1 {
            try await Task.sleep(for: .milliseconds(20))
        }
        _ = try await blockingWork { first.stop(signal: SIGKILL) }
        let queued = count("SELECT count(*) FROM enrichment_queue")
        #expect(queued > 0 && queued < 12, "killed with \(queued) of 12 jobs still queued")

        fake.state.withLock { $0.latency = .zero }
        let second = try ServerProcess(arguments: ["--db", path], environment: environment)
        _ = try await blockingWork { try second.waitForPort() }
        while ContinuousClock.now < deadline, count("SELECT count(*) FROM enrichment_queue") > 0 {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await blockingWork { second.stop() } == 0)
        #expect(count("SELECT count(*) FROM enrichment_queue") == 0, "\(second.output)")
        #expect(count("SELECT count(*) FROM jobs WHERE enrichment_status = 'enriched'") == 12)
        #expect(count("SELECT count(*) FROM test_results") == 36)
        #expect(count("SELECT count(*) FROM (SELECT job_id FROM test_results GROUP BY job_id HAVING count(*) != 3)") == 0)
        #expect(count("SELECT count(*) FROM events") == 12)

        let flaky = try await run(["report", "flaky-tests", "--db", path, "--format", "csv"])
        let rows = flaky.stdout.split(separator: "\r\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(rows.map { Array($0.prefix(7)) } == [["gh/acme/widgets", "WidgetTest", "retries", "1", "1", "1.0", "1"]], "\(flaky.stdout)")
        #expect(rows.first?[9] == "test" && rows.first?[10] == "expected true", "\(flaky.stdout)")
    }
}
