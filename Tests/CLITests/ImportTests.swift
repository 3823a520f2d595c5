import ArchiveTestSupport
import Foundation
import Testing

/// A realistic mix: both VCS shapes, a cancelled workflow's repeated events, a ping, a future type.
let sampleEvents: [String] = [
    Fixtures.ping, Fixtures.workflowCompleted(), Fixtures.jobCompleted(), Fixtures.gitlabWorkflowCompleted,
    Fixtures.gitlabJobCompleted, Fixtures.githubAppJobCompleted, Fixtures.futureEvent,
    Fixtures.workflowCompleted(id: "c1", happenedAt: "2024-03-05T11:00:01Z", workflowID: "wf-c", status: "canceled", stoppedAt: "2024-03-05T11:00:01Z"),
    Fixtures.workflowCompleted(id: "c2", happenedAt: "2024-03-05T11:00:02Z", workflowID: "wf-c", status: "canceled", stoppedAt: "2024-03-05T11:00:02Z"),
    Fixtures.jobCompleted(id: "c3", happenedAt: "2024-03-05T11:00:03Z", jobID: "job-c", name: "lint", status: "canceled", workflowID: "wf-c"),
]

/// Every table's content that does not depend on when it was received, as CSV.
func archiveContents(_ path: String) async throws -> String {
    var contents = ""
    for sql in [
        "SELECT id, type, happened_at, webhook_id, organization_id, project_id, pipeline_id, workflow_id, job_id, payload FROM events ORDER BY id",
        "SELECT * FROM organizations ORDER BY id", "SELECT * FROM projects ORDER BY id", "SELECT * FROM pipelines ORDER BY id",
        "SELECT * FROM workflows ORDER BY id", "SELECT * FROM jobs ORDER BY id", "SELECT * FROM job_runs ORDER BY job_id",
        "SELECT reason, body FROM rejected_deliveries ORDER BY body_sha256",
    ] {
        let result = try await run(["query", "--db", path, "--format", "csv", sql])
        #expect(result.status == 0, "\(result.stderr)")
        contents += result.stdout
    }
    return contents
}

@Suite struct ImportTests {
    @Test func importingTwiceStoresNothingTheSecondTime() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("a.sqlite").path
        let file = directory.appendingPathComponent("events.jsonl")
        try (sampleEvents.joined(separator: "\n") + "\n\nnot json\n   \n").write(to: file, atomically: true, encoding: .utf8)

        let first = try await run(["import", "--db", path, file.path])
        #expect(first.status == 0)
        #expect(first.stdout.isEmpty, "data only on stdout, and import prints none")
        #expect(first.stderr.contains("stored 10, duplicate 0, rejected 1"), "\(first.stderr)")
        #expect(first.stderr.contains("events.jsonl:12: rejected: invalid JSON"))
        let before = try await archiveContents(path)

        let second = try await run(["import", "--db", path, "--batch-size", "3", file.path])
        #expect(second.stderr.contains("stored 0, duplicate 10, rejected 1"), "\(second.stderr)")
        #expect(try await archiveContents(path) == before)
        let attempts = try await run(["query", "--db", path, "-f", "csv", "SELECT count(*), sum(attempts) FROM rejected_deliveries"])
        #expect(attempts.stdout == "count(*),sum(attempts)\r\n1,2\r\n")
    }

    @Test func readsGzipAndStdin() async throws {
        let directory = try makeTemporaryDirectory()
        let plain = directory.appendingPathComponent("events.jsonl")
        try sampleEvents.prefix(4).joined(separator: "\r\n").write(to: plain, atomically: true, encoding: .utf8)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-k", plain.path]
        try gzip.run()
        gzip.waitUntilExit()

        let fromGzip = directory.appendingPathComponent("gz.sqlite").path
        let gz = try await run(["import", "--db", fromGzip, plain.path + ".gz"])
        #expect(gz.status == 0)
        #expect(gz.stderr.contains("stored 4,"), "\(gz.stderr)")

        let fromStdin = directory.appendingPathComponent("stdin.sqlite").path
        let stdin = try await run(["import", "--db", fromStdin, "-"], stdin: sampleEvents.prefix(4).joined(separator: "\n"))
        #expect(stdin.stderr.contains("stored 4,"), "\(stdin.stderr)")
        #expect(try await archiveContents(fromGzip) == archiveContents(fromStdin))
    }

    @Test func overlongLinesAreSkippedAndCountedAsRejected() async throws {
        let directory = try makeTemporaryDirectory()
        let file = directory.appendingPathComponent("long.jsonl")
        let long = #"{"type":"ping","id":"long","happened_at":"2024-01-01T00:00:00Z","x":""# + String(repeating: "y", count: 5000) + #""}"#
        let lines = [Fixtures.ping, long, Fixtures.workflowCompleted(), String(repeating: "z", count: 3000)]
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("a.sqlite").path
        let result = try await run(["import", "--db", path, "--max-line-bytes", "2000", file.path])
        #expect(result.status == 0)
        #expect(result.stderr.contains("long.jsonl:2: rejected: line longer than 2000 bytes"), "\(result.stderr)")
        #expect(result.stderr.contains("long.jsonl:4: rejected: line longer than 2000 bytes"), "the last line has no newline")
        #expect(result.stderr.contains("stored 2, duplicate 0, rejected 2"))
        let ids = try await run(["query", "--db", path, "-f", "csv", "SELECT id FROM events ORDER BY id"])
        #expect(ids.stdout == "id\r\n3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c\r\ne1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7\r\n")
    }

    @Test func unreadableInputFailsWithExitOne() async throws {
        let directory = try makeTemporaryDirectory()
        let truncated = directory.appendingPathComponent("bad.gz")
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00]).write(to: truncated)
        let path = directory.appendingPathComponent("a.sqlite").path
        let result = try await run(["import", "--db", path, truncated.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("gzip"))
        #expect(try await run(["import", "--db", path, directory.appendingPathComponent("missing.jsonl").path]).status == 1)
        #expect(try await run(["import", "--db", path]).status == 2)
    }

    @Test func importGivesTheSameArchiveAsReceivingOverHTTP() async throws {
        let directory = try makeTemporaryDirectory()
        let viaHTTP = directory.appendingPathComponent("http.sqlite").path
        let server = try ServerProcess(arguments: ["--db", viaHTTP], environment: ["CIRCLE_ARCHIVE_SECRETS": "s"])
        let port = try await blockingWork { try server.waitForPort() }
        for body in sampleEvents + ["not json"] {
            let bytes = Array(body.utf8)
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: signedDeliveryRequest(bytes, secret: "s")) }
            #expect(response.status == (body == "not json" ? 400 : 200))
        }
        #expect(try await blockingWork { server.stop() } == 0)

        let file = directory.appendingPathComponent("events.jsonl")
        try (sampleEvents + ["not json"]).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let viaImport = directory.appendingPathComponent("import.sqlite").path
        #expect(try await run(["import", "--db", viaImport, file.path]).status == 0)

        let http = try await archiveContents(viaHTTP)
        #expect(http.contains("wf-c"))
        #expect(try await archiveContents(viaImport) == http)
    }
}
