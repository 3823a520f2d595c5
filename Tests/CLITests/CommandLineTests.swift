import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

/// The built `circle-archive` binary, next to the test bundle.
let binary: URL = {
    let testExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: testExecutable).deletingLastPathComponent()
    // On some platforms the test binary sits inside an .xctest bundle.
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("circle-archive").path), directory.path != "/" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent("circle-archive")
}()

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the binary to completion with a clean environment plus `environment`, off the cooperative pool.
func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], directory: URL? = nil) async throws -> CommandResult {
    try await blockingWork { try runToCompletion(arguments, stdin: stdin, environment: environment, directory: directory) }
}

private func runToCompletion(_ arguments: [String], stdin: String?, environment: [String: String], directory: URL?) throws -> CommandResult {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    let output = Pipe()
    let errors = Pipe()
    let input = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read stderr on another thread so a full pipe cannot stall the child.
    let stderrData = DataBox()
    let stderrDone = DispatchSemaphore(value: 0)
    Thread {
        stderrData.data = errors.fileHandleForReading.readDataToEndOfFile()
        stderrDone.signal()
    }.start()
    let stdoutData = output.fileHandleForReading.readDataToEndOfFile()
    stderrDone.wait()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
        stderr: String(decoding: stderrData.data, as: UTF8.self))
}

final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// An archive file with a few events, written through the store as the server would.
func populatedArchive() async throws -> String {
    let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
    let store = try ArchiveStore(path: path)
    for event in [Fixtures.ping, Fixtures.workflowCompleted(), Fixtures.jobCompleted(), Fixtures.gitlabJobCompleted] {
        _ = try await store.receive(Delivery(body: Array(event.utf8)))
    }
    try store.close()
    return path
}

@Suite struct CommandLineTests {
    @Test func helpTeachesAndExitsZero() async throws {
        let root = try await run(["--help"])
        #expect(root.status == 0)
        for word in ["serve", "migrate", "query", "Exit codes"] { #expect(root.stdout.contains(word)) }
        let query = try await run(["query", "--help"])
        #expect(query.status == 0)
        #expect(query.stdout.contains("Examples:") && query.stdout.contains("--format"))
        let serve = try await run(["serve", "--help"])
        #expect(serve.stdout.contains("CIRCLE_ARCHIVE_SECRETS") && serve.stdout.contains("--secret-file"))
        #expect(try await run(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test func secretsNeverAppearInHelpOrErrors() async throws {
        let secretValue = "do-not-print-\(UUID().uuidString)"
        let environment = ["CIRCLE_ARCHIVE_SECRETS": secretValue]
        let directory = try makeTemporaryDirectory()
        for arguments in [
            ["serve", "--help"], ["help", "serve"],
            ["serve", "--port", "70000"], ["serve", "--allow-unsigned"], ["serve", "--request-timeout", "1"],
            ["serve", "--db", "/nonexistent/dir/a.sqlite", "--port", "0"],
        ] {
            let result = try await run(arguments, environment: environment, directory: directory)
            #expect(!result.stdout.contains(secretValue) && !result.stderr.contains(secretValue), "\(arguments)")
            #expect(!result.stdout.contains("do-not-print") && !result.stderr.contains("do-not-print"), "\(arguments)")
        }
    }

    @Test func usageErrorsExitTwo() async throws {
        for arguments in [["bogus"], ["query"], ["query", "--format", "xml", "SELECT 1"], ["serve", "--port", "x"], ["migrate", "--nope"]] {
            let result = try await run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains("Error:"), "\(arguments)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func serveRefusesToStartWithoutASecret() async throws {
        let directory = try makeTemporaryDirectory()
        let result = try await run(["serve", "--port", "0"], directory: directory)
        #expect(result.status == 2)
        #expect(result.stderr.contains("CIRCLE_ARCHIVE_SECRETS") && result.stderr.contains("--secret-file"))
        let both = try await run(["serve", "--port", "0", "--allow-unsigned"], environment: ["CIRCLE_ARCHIVE_SECRETS": "s"], directory: directory)
        #expect(both.status == 2)
        let missingFile = try await run(["serve", "--port", "0", "--secret-file", "/nonexistent/secret"], directory: directory)
        #expect(missingFile.status == 2)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("circle-archive.sqlite").path))
    }

    @Test func migrateCreatesTheArchiveAndPrintsTheSchemaVersion() async throws {
        let directory = try makeTemporaryDirectory()
        let byDefault = try await run(["migrate"], directory: directory)
        #expect(byDefault.status == 0)
        #expect(byDefault.stdout == "0002_archive_counters\n")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("circle-archive.sqlite").path))
        let byEnvironment = try await run(["migrate"], environment: ["CIRCLE_ARCHIVE_DB": directory.appendingPathComponent("env.sqlite").path])
        #expect(byEnvironment.status == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("env.sqlite").path))
    }

    @Test func queryPrintsRowsInEveryFormat() async throws {
        let path = try await populatedArchive()
        let sql = "SELECT job_name, job_number, duration_seconds, tag FROM job_runs ORDER BY job_name"
        let csv = try await run(["query", "--db", path, "--format", "csv", sql])
        #expect(csv.status == 0)
        #expect(csv.stdout == "job_name,job_number,duration_seconds,tag\r\nsay-hello,12,22.547,\r\ntest,136,65.329,\r\n")
        #expect(csv.stderr.isEmpty)
        let json = try await run(["query", "--db", path, "--format", "json", sql])
        let parsed = try JSONValue(parsing: Array(json.stdout.utf8))
        guard case .array(let rows) = parsed else {
            Issue.record("json output is not an array")
            return
        }
        #expect(rows.first == .object(["job_name": .string("say-hello"), "job_number": .integer(12), "duration_seconds": .double(22.547), "tag": .null]))
        let jsonl = try await run(["query", "--db", path, "-f", "jsonl", sql])
        #expect(jsonl.stdout.split(separator: "\n").count == 2)
        let table = try await run(["query", "--db", path, sql])
        #expect(table.stdout.hasPrefix("job_name   job_number  duration_seconds  tag\n"))
        let markdown = try await run(["query", "--db", path, "--format", "markdown", sql])
        #expect(markdown.stdout.contains("| say-hello | 12 | 22.547 |  |"))
    }

    @Test func queryReadsSQLFromStdin() async throws {
        let path = try await populatedArchive()
        let result = try await run(["query", "--db", path, "--format", "csv", "-"], stdin: "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type\n")
        #expect(result.status == 0)
        #expect(result.stdout == "type,n\r\njob-completed,2\r\nping,1\r\nworkflow-completed,1\r\n")
        #expect(try await run(["query", "--db", path, "-"], stdin: "  \n").status == 1)
    }

    @Test func queryRunsReadOnlyStatementsAndRefusesWrites() async throws {
        let path = try await populatedArchive()
        #expect(try await run(["query", "--db", path, "-f", "csv", "PRAGMA integrity_check"]).stdout == "integrity_check\r\nok\r\n")
        #expect(try await run(["query", "--db", path, "EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE project_id = 'x' AND name = 'y'"]).status == 0)
        #expect(try await run(["query", "--db", path, "-f", "csv", "WITH t AS (SELECT 1 AS one) SELECT one FROM t"]).stdout == "one\r\n1\r\n")
        for statement in ["DELETE FROM events", "DROP VIEW job_runs", "UPDATE jobs SET status = 'x'", "CREATE TABLE t (x)"] {
            let result = try await run(["query", "--db", path, statement])
            #expect(result.status == 1, "\(statement)")
            #expect(result.stderr.hasPrefix("Error: ") && result.stderr.contains("readonly"), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        #expect(try await run(["query", "--db", path, "-f", "csv", "SELECT count(*) FROM events"]).stdout.hasSuffix("\r\n4\r\n"))
    }

    @Test func badSQLAndMissingArchivesExitOne() async throws {
        let path = try await populatedArchive()
        let bad = try await run(["query", "--db", path, "SELEKT 1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("syntax error"))
        let missing = try await run(["query", "--db", path + ".nope", "SELECT 1"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no archive at"))
        #expect(!FileManager.default.fileExists(atPath: path + ".nope"), "a reader never creates an archive")
    }
}
