import ArchiveMigrations
import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import ArgumentParser
import Foundation
import Testing

@testable import CircleArchiveCLI

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

private let spawning = NSLock()

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
    // Foundation's Process.run is not safe to call from several threads at once: a fresh-clone
    // run crashed once in its memcpy while other tests spawned the binary. One spawn at a time.
    try spawning.withLock { try process.run() }
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
        status: process.terminationStatus,
        stdout: String(decoding: stdoutData, as: UTF8.self),
        stderr: String(decoding: stderrData.data, as: UTF8.self)
    )
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

    /// The table in README: flag, then CIRCLE_ARCHIVE_<NAME>, then the default, for every serve setting.
    @Test func settingsComeFromTheFlagThenTheEnvironmentThenTheDefault() throws {
        let environment = [
            "CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_ARCHIVE_DB": "/env/a.sqlite", "CIRCLE_ARCHIVE_HOST": "0.0.0.0",
            "CIRCLE_ARCHIVE_PORT": "9001", "CIRCLE_ARCHIVE_MAX_BODY_BYTES": "2048", "CIRCLE_ARCHIVE_REQUEST_TIMEOUT": "12.5",
            "CIRCLE_ARCHIVE_MAX_CONNECTIONS": "7", "CIRCLE_ARCHIVE_METRICS_SERIES_LIMIT": "9", "CIRCLE_ARCHIVE_DURABILITY": "normal",
        ]
        func resolve(_ arguments: [String], _ environment: [String: String]) throws -> ServeConfiguration {
            try #require(try CircleArchive.parseAsRoot(["serve"] + arguments) as? Serve).resolve(environment)
        }
        let defaults = try resolve([], ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_ARCHIVE_PORT": ""])
        #expect(defaults.databasePath == "circle-archive.sqlite" && defaults.host == "127.0.0.1" && defaults.port == 8080)
        #expect(defaults.maxBodyBytes == 1 << 20 && defaults.requestTimeout == 30 && defaults.maxConnections == 256)
        #expect(defaults.metricsSeriesLimit == 500 && defaults.durability == .full)

        let fromEnvironment = try resolve([], environment)
        #expect(fromEnvironment.databasePath == "/env/a.sqlite" && fromEnvironment.host == "0.0.0.0" && fromEnvironment.port == 9001)
        #expect(fromEnvironment.maxBodyBytes == 2048 && fromEnvironment.requestTimeout == 12.5 && fromEnvironment.maxConnections == 7)
        #expect(fromEnvironment.metricsSeriesLimit == 9 && fromEnvironment.durability == .normal)

        let fromFlags = try resolve(
            [
                "--db", "/flag/a.sqlite", "--host", "::1", "--port", "9002", "--max-body-bytes", "4096", "--request-timeout", "20",
                "--max-connections", "8", "--metrics-series-limit", "10", "--durability", "full",
            ],
            environment
        )
        #expect(fromFlags.databasePath == "/flag/a.sqlite" && fromFlags.host == "::1" && fromFlags.port == 9002)
        #expect(fromFlags.maxBodyBytes == 4096 && fromFlags.requestTimeout == 20 && fromFlags.maxConnections == 8)
        #expect(fromFlags.metricsSeriesLimit == 10 && fromFlags.durability == .full)

        #expect(throws: ConfigurationError.self) { try resolve([], ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_ARCHIVE_DURABILITY": "maybe"]) }
    }

    /// A variable that does not parse stops serve with exit 2 and names the variable, never a fallback.
    @Test(arguments: ["CIRCLE_ARCHIVE_PORT", "CIRCLE_ARCHIVE_LOG_LEVEL", "CIRCLE_ARCHIVE_LOG_FORMAT", "CIRCLE_ARCHIVE_REQUEST_TIMEOUT"])
    func anUnparseableVariableIsAConfigurationError(variable: String) async throws {
        let result = try await run(["serve"], environment: ["CIRCLE_ARCHIVE_SECRETS": "s", variable: "bogus"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(variable) is not a valid value: bogus ("), "\(result.stderr)")
    }

    /// The message names what would have been valid.
    @Test func anUnparseableVariableNamesTheValidValues() async throws {
        let durability = try await run(["serve"], environment: ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_ARCHIVE_DURABILITY": "fast"])
        #expect(
            durability.stderr.contains("CIRCLE_ARCHIVE_DURABILITY is not a valid value: fast (valid values: full, normal)"),
            "\(durability.stderr)"
        )
        let port = try await run(["serve"], environment: ["CIRCLE_ARCHIVE_SECRETS": "s", "CIRCLE_ARCHIVE_PORT": "http"])
        #expect(port.stderr.contains("CIRCLE_ARCHIVE_PORT is not a valid value: http (a whole number)"), "\(port.stderr)")
    }

    @Test func migrateCreatesTheArchiveAndPrintsTheSchemaVersion() async throws {
        let directory = try makeTemporaryDirectory()
        let byDefault = try await run(["migrate"], directory: directory)
        #expect(byDefault.status == 0)
        #expect(byDefault.stdout == Migrations.all.last!.id + "\n")
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
        #expect(
            rows.first == .object(["job_name": .string("say-hello"), "job_number": .integer(12), "duration_seconds": .double(22.547), "tag": .null])
        )
        let jsonl = try await run(["query", "--db", path, "-f", "jsonl", sql])
        #expect(jsonl.stdout.split(separator: "\n").count == 2)
        let table = try await run(["query", "--db", path, sql])
        #expect(table.stdout.hasPrefix("job_name   job_number  duration_seconds  tag\n"))
        let markdown = try await run(["query", "--db", path, "--format", "markdown", sql])
        #expect(markdown.stdout.contains("| say-hello | 12 | 22.547 |  |"))
    }

    @Test func queryReadsSQLFromStdin() async throws {
        let path = try await populatedArchive()
        let result = try await run(
            ["query", "--db", path, "--format", "csv", "-"],
            stdin: "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type\n"
        )
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

    /// Cookbook queries start with a `-- comment` line: that is SQL, not an option. One statement
    /// per run, said in words a person typing SQL understands; a real unknown option is still one.
    @Test func queryTakesAStatementThatStartsWithACommentAndExactlyOne() async throws {
        let path = try await populatedArchive()
        let commented = try await run(["query", "--db", path, "-f", "csv", "-- how many events\nSELECT count(*) AS n FROM events"])
        #expect(commented.status == 0, "\(commented.stderr)")
        #expect(commented.stdout == "n\r\n4\r\n")
        let two = try await run(["query", "--db", path, "SELECT 1; SELECT 2"])
        #expect(two.status == 1)
        #expect(two.stderr.contains("more than one SQL statement; query runs one at a time"), "\(two.stderr)")
        #expect(!two.stderr.contains("Database.execute"))
        #expect(try await run(["query", "--db", path, "-f", "csv", "SELECT 1; -- done\n"]).stdout == "1\r\n1\r\n")
        let onlyComment = try await run(["query", "--db", path, "-- nothing here"])
        #expect(onlyComment.status == 1 && onlyComment.stderr.contains("no SQL statement"), "\(onlyComment.stderr)")
        let typo = try await run(["query", "--db", path, "--fromat", "csv", "SELECT 1"])
        #expect(typo.status == 2 && typo.stderr.contains("Unknown option '--fromat'"), "\(typo.stderr)")
        let unquoted = try await run(["query", "--db", path, "SELECT", "1"])
        #expect(unquoted.status == 2 && unquoted.stderr.contains("one quoted argument"), "\(unquoted.stderr)")
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

/// Every command's `--help`, as an 80-column terminal shows it.
@Suite struct HelpTests {
    /// Each command with its path, e.g. `report durations`.
    static func commands(
        under command: any ParsableCommand.Type = CircleArchive.self,
        path: [String] = []
    ) -> [(path: String, type: any ParsableCommand.Type)] {
        let subcommands = command.configuration.subcommands
        let here = path.isEmpty ? [] : [(path.joined(separator: " "), command)]
        return here + subcommands.flatMap { commands(under: $0, path: path + [$0._commandName]) }
    }

    @Test func everyCommandHasExamplesThatFitAnEightyColumnTerminal() throws {
        let commands = Self.commands()
        #expect(commands.count == 20)
        for (path, command) in commands where command.configuration.subcommands.isEmpty {
            let discussion = command.configuration.discussion
            #expect(discussion.contains("Example"), "\(path) has no example")
            let help = CircleArchive.helpMessage(for: command, columns: 80)
            // Examples are indented lines; one the help had to wrap would be cut mid-command.
            for example in discussion.split(separator: "\n") where example.hasPrefix("  ") {
                #expect(help.contains(example), "\(path): \(example) is wrapped at 80 columns")
            }
        }
    }

    /// Help names exactly the values a command accepts: each value listed after "values:" parses
    /// and validates, and help never shows a Swift value where a default should be.
    @Test func helpListsExactlyTheValuesACommandAccepts() throws {
        let required: [String: [String]] = [
            "query": ["SELECT 1"], "export": ["jobs"], "import": ["events.jsonl"], "backfill": ["--project", "gh/a/b"], "backup": ["b.sqlite"],
        ]
        var checked = 0
        for (path, command) in Self.commands() where command.configuration.subcommands.isEmpty {
            let help = CircleArchive.helpMessage(for: command, columns: 10_000)
            #expect(!help.contains("TimeBound(") && !help.contains("Timestamp(") && !help.contains("microseconds"), "\(path)")
            for line in help.split(separator: "\n") {
                guard let option = line.firstMatch(of: /(--[a-z-]+) <[^>]+>/)?.1,
                    let values = line.firstMatch(of: /\(values: ([^;)]+)/)?.1
                else { continue }
                for value in values.split(separator: ", ") {
                    let arguments = path.split(separator: " ").map(String.init) + (required[path] ?? []) + [String(option), String(value)]
                    #expect(throws: Never.self, "\(arguments)") { _ = try CircleArchive.parseAsRoot(arguments) }
                    checked += 1
                }
            }
        }
        #expect(checked > 30)
        let trend = CircleArchive.helpMessage(for: Report.Trend.self, columns: 10_000)
        #expect(trend.contains("(values: job, workflow;"), "\(trend)")
        #expect(CircleArchive.helpMessage(for: Export.self, columns: 10_000).contains("(values: csv, jsonl;"))
        #expect(CircleArchive.helpMessage(for: Backfill.self, columns: 10_000).contains("Default: 90d."))
    }

    /// A value that is not a time names the forms that are; a time ago with a minus says to drop it.
    @Test func aBadTimeValueTeachesTheAcceptedForms() async throws {
        for (value, says) in [("7days", "not a time"), ("-7d", "a time ago has no minus sign: write 7d"), ("yesterday", "not a time")] {
            let result = try await run(["report", "slowest", "--db", "/nonexistent.sqlite", "--since", value])
            #expect(result.status == 2, "\(value)")
            #expect(result.stderr.contains(says), "\(value): \(result.stderr)")
            #expect(result.stderr.contains("30m, 24h, 7d, 12w") && result.stderr.contains("2024-06-01T12:00:00Z"), "\(result.stderr)")
        }
        let backfill = try await run(["backfill", "--project", "gh/a/b", "--since", "3 days"], environment: ["CIRCLE_TOKEN": "t"])
        #expect(backfill.status == 2 && backfill.stderr.contains("30m, 24h, 7d, 12w"), "\(backfill.stderr)")
    }

    /// README tells people to install these; they must name the subcommands and their options.
    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsCoverTheSubcommands(shell: String) async throws {
        let result = try await run(["--generate-completion-script", shell])
        #expect(result.status == 0 && result.stderr.isEmpty)
        for word in ["serve", "report", "durations", "export", "since", "log-format"] {
            #expect(result.stdout.contains(word), "\(shell): \(word)")
        }
    }

    /// Prose is written as one line per paragraph and wrapped by the parser to the terminal;
    /// a line broken by hand leaves a stub of a few words on the next line.
    @Test func proseIsWrappedByTheTerminalNotByHand() throws {
        for (path, command) in Self.commands() {
            for line in command.configuration.discussion.split(separator: "\n") where !line.hasPrefix("  ") {
                let end = line.last.map { ".:)".contains($0) } ?? true
                #expect(end, "\(path): a paragraph line ends mid-sentence: \(line)")
            }
        }
    }
}
