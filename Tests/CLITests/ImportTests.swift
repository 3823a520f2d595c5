import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

/// A realistic mix: both VCS shapes, a cancelled workflow's repeated events, a ping, a future type.
let sampleEvents: [String] = [
    Fixtures.ping, Fixtures.workflowCompleted(), Fixtures.jobCompleted(), Fixtures.gitlabWorkflowCompleted,
    Fixtures.gitlabJobCompleted, Fixtures.githubAppJobCompleted, Fixtures.futureEvent,
    Fixtures.workflowCompleted(
        id: "c1",
        happenedAt: "2024-03-05T11:00:01Z",
        workflowID: "wf-c",
        status: "canceled",
        stoppedAt: "2024-03-05T11:00:01Z"
    ),
    Fixtures.workflowCompleted(
        id: "c2",
        happenedAt: "2024-03-05T11:00:02Z",
        workflowID: "wf-c",
        status: "canceled",
        stoppedAt: "2024-03-05T11:00:02Z"
    ),
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
        #expect(first.status == 1, "a rejected line makes the import fail; the other lines are stored")
        #expect(first.stderr.contains("Error: 1 line was rejected"), "\(first.stderr)")
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
        #expect(result.status == 1)
        #expect(result.stderr.contains("Error: 2 lines were rejected"), "\(result.stderr)")
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
        #expect(try await run(["import", "--db", path, "-", "-"], stdin: Fixtures.ping).status == 2, "stdin can be read once")
    }

    /// A missing file, a directory or an unreadable file is found before the archive is created:
    /// no empty archive, no -wal or -shm left behind, even when an earlier file is fine.
    @Test func badInputsAreFoundBeforeTheArchiveIsCreated() async throws {
        let directory = try makeTemporaryDirectory()
        let good = directory.appendingPathComponent("good.jsonl")
        try Fixtures.ping.write(to: good, atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("new.sqlite").path
        for bad in [directory.appendingPathComponent("nosuch.jsonl").path, directory.path] {
            let result = try await run(["import", "--db", path, good.path, bad])
            #expect(result.status == 1)
            #expect(result.stderr.contains(bad), "\(result.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("new.sqlite") }
            #expect(left.isEmpty, "\(left)")
        }
    }

    /// A pretty-printed document or a JSON array is refused whole, with the jq command that
    /// converts it, before anything is written: no fragments in rejected_deliveries.
    @Test func aPrettyPrintedFileOrAnArrayIsRefusedWithHowToConvertIt() async throws {
        let directory = try makeTemporaryDirectory()
        let pretty = directory.appendingPathComponent("pretty.json")
        try "\n{\n  \"type\": \"ping\",\n  \"id\": \"x\"\n}\n".write(to: pretty, atomically: true, encoding: .utf8)
        let array = directory.appendingPathComponent("array.json")
        try "[\(Fixtures.ping), \(Fixtures.workflowCompleted())]\n".write(to: array, atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("a.sqlite").path
        for (file, hint) in [(pretty, "jq -c . '\(pretty.path)' > events.jsonl"), (array, "jq -c '.[]' '\(array.path)' > events.jsonl")] {
            let result = try await run(["import", "--db", path, file.path])
            #expect(result.status == 1)
            #expect(result.stderr.contains("not one JSON object per line"), "\(result.stderr)")
            #expect(result.stderr.contains(hint), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        let fromStdin = try await run(["import", "--db", path, "-"], stdin: "[\n" + Fixtures.ping + "\n]\n")
        #expect(fromStdin.status == 1)
        #expect(fromStdin.stderr.contains("stdin holds a JSON array"), "\(fromStdin.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Ctrl-C stops between lines: the batch in flight commits, the summary says how far it got and
    /// that rerunning continues; the rerun stores the rest and skips the rest as duplicates.
    @Test func ctrlCStopsCleanlyAndARerunContinues() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("a.sqlite").path
        let lines = (0..<6).map { Fixtures.jobCompleted(id: "event-\($0)", jobID: "job-\($0)", number: $0) }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["import", "--db", path, "--batch-size", "1", "-"]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(lines.prefix(3).joined(separator: "\n").appending("\n").utf8))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let reader = try? ArchiveReader.open(path: path), (try? reader.texts("SELECT count(*) FROM events")) == ["3"] { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(process.processIdentifier, SIGINT)
        try await Task.sleep(for: .milliseconds(300))
        // The producer of a pipe gets the same Ctrl-C and goes away.
        input.fileHandleForWriting.write(Data(lines.suffix(3).joined(separator: "\n").utf8))
        try input.fileHandleForWriting.close()
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("interrupted at stdin:"), "\(stderr)")
        #expect(stderr.contains("Run the same command again to continue"), "\(stderr)")
        let stored = try ArchiveReader.open(path: path).texts("SELECT count(*) FROM events")
        #expect(stored == ["3"] || stored == ["4"], "the lines read before the signal was seen")

        let rerun = try await run(["import", "--db", path, "-"], stdin: lines.joined(separator: "\n"))
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("duplicate \(stored == ["3"] ? 3 : 4),"), "\(rerun.stderr)")
        #expect(try ArchiveReader.open(path: path).texts("SELECT count(*) FROM events") == ["6"])
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
        #expect(try await run(["import", "--db", viaImport, file.path]).status == 1, "the not-json line")

        let http = try await archiveContents(viaHTTP)
        #expect(http.contains("wf-c"))
        #expect(try await archiveContents(viaImport) == http)
    }
}
