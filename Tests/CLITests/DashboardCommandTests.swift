import ArchiveMigrations
import ArchiveStore
import ArchiveTestSupport
import ArgumentParser
import Foundation
import Testing

@testable import CircleArchiveCLI

/// `circle-archive dashboard` over an archive file, and its data links against the CLI.
@Suite struct DashboardCommandTests {
    static func get(_ path: String, port: Int) async throws -> RawResponse {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        return try await blockingWork { try rawHTTPExchange(port: port, request: request) }
    }

    /// Every table's CSV and JSON link gives the bytes `circle-archive report … --format csv|json`
    /// prints with the same filters.
    @Test func dataLinksAreByteForByteTheReports() async throws {
        let path = try await reportArchive()
        let server = try ServerProcess(arguments: ["--db", path], environment: [:], command: "dashboard")
        let port = try await blockingWork { try server.waitForPort() }
        let filters = [("project", "github/acme/widgets"), ("since", "2024-01-01"), ("until", "2025-01-01")]
        let reports: [(name: String, options: [(String, String)])] = [
            ("durations", [("by", "job")]), ("durations", [("by", "workflow")]), ("durations", [("by", "branch")]),
            ("trend", [("by", "job"), ("every", "day")]), ("flaky", []), ("failures", []), ("slowest", [("limit", "3")]),
            ("queue", [("by", "resource_class")]), ("tests", [("by", "file")]), ("tests", []), ("flaky-tests", []),
            ("regressions", [("recent-days", "2")]),
        ]
        for (name, options) in reports {
            for format in ["csv", "json"] {
                let query = (options + filters).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
                let page = try await Self.get("/data/\(name).\(format)?\(query)", port: port)
                let cli = try await run(
                    ["report", name, "--db", path, "--format", format] + (options + filters).flatMap { ["--\($0.0)", $0.1] }
                )
                #expect(page.status == 200 && cli.status == 0, "\(name) \(format): \(page.body) \(cli.stderr)")
                #expect(page.body == cli.stdout, "\(name) \(options) \(format)")
                // Each has rows in the sample archive but flaky and failures (its jobs ran once each and passed).
                let rows = format == "csv" ? page.body.split(separator: "\r\n").count - 1 : page.body.components(separatedBy: "\n{").count - 1
                #expect(rows > 0 || ["flaky", "failures", "regressions"].contains(name), "\(name) \(format): \(page.body)")
            }
        }
        // Read-only: no write reached the file, which is where it was and as it was.
        let overview = try await Self.get("/?since=all", port: port)
        #expect(overview.status == 200 && overview.body.contains("gh/acme/widgets"))
        #expect(try await blockingWork { server.stop() } == 0)
        #expect(server.output.contains("serving the dashboard"), "\(server.output)")
    }

    /// The dashboard reads only, so an archive an older version wrote is not upgraded behind the
    /// user's back: it says what to run.
    @Test func anArchiveNotYetMigratedIsRefusedWithWhatToRun() async throws {
        let path = try await reportArchive()
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["sqlite3", path, "DELETE FROM grdb_migrations WHERE identifier = (SELECT max(identifier) FROM grdb_migrations)"]
        try sqlite.run()
        sqlite.waitUntilExit()
        let result = try await run(["dashboard", "--db", path, "--port", "0"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(
            result.stderr.contains("older than this circle-archive's") && result.stderr.contains("circle-archive migrate --db \(path)"),
            "\(result.stderr)"
        )
        let migrate = try await run(["migrate", "--db", path])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        // An upgrade says what it applies and how long it took.
        let last = try #require(Migrations.all.last?.id)
        #expect(migrate.stderr.contains("applying \(last)…") && migrate.stderr.contains("applied \(last) in "), "\(migrate.stderr)")
    }

    /// README: the standalone dashboard listens on 127.0.0.1:8090 unless told otherwise.
    @Test func listensOnLoopbackPort8090ByDefault() throws {
        let command = try DashboardCommand.parse([])
        #expect(command.host == "127.0.0.1" && command.port == 8090)
        let readme = ReadmeInStepTests.readme
        #expect(readme.contains("127.0.0.1:8090 unless `--host`/`--port` say otherwise"))
    }

    @Test func aMissingArchiveIsRefusedAndNotCreated() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("none.sqlite").path
        let result = try await run(["dashboard", "--db", path, "--port", "0"])
        #expect(result.status == 1 && result.stderr.contains("no archive at"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
