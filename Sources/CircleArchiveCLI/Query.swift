import ArchiveStore
import ArgumentParser
import Foundation

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the archive or apply pending schema migrations, then print the schema version.",
        discussion: """
            serve applies migrations itself on start; migrate is for preparing a file in advance \
            or upgrading it on purpose. Migrations are compiled into the binary.

            Example:
              circle-archive migrate --db /data/ci.sqlite
            """
    )

    @OptionGroup var archive: ArchiveOptions

    func run() throws {
        do {
            let path = archive.databasePath(processEnvironment)
            let store = try ArchiveStore(path: path)
            let version = try store.reader.schemaVersion() ?? "none"
            try store.close()
            print(version)
        } catch {
            throw reportFailure(error)
        }
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one read-only SQL statement against the archive.",
        discussion: """
            The archive is opened read-only: a statement that writes fails and changes nothing. \
            Tables: events, organizations, projects, pipelines, workflows, jobs, rejected_deliveries. \
            Views: job_runs, workflow_runs (with duration_seconds). Timestamps are UTC ISO 8601 text.

            Examples:
              circle-archive query "SELECT job_name, count(*), avg(duration_seconds)
                                    FROM job_runs GROUP BY 1"
              circle-archive query --format csv \\
                "SELECT * FROM workflow_runs WHERE stopped_at >= '2024-06-01'"
              echo "SELECT type, count(*) FROM events GROUP BY type" |
                circle-archive query --format json -
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(name: .shortAndLong, help: "Output format: table, csv, json, jsonl or markdown.")
    var format: OutputFormat = .table

    @Argument(help: ArgumentHelp("The SQL statement, or - to read it from stdin.", valueName: "sql"))
    var sql: String

    func run() throws {
        let statement: String
        do {
            statement = sql == "-" ? try readStandardInput() : sql
        } catch {
            throw reportFailure(error)
        }
        try printFromArchive(archive, format: format) { reader, printer in try reader.query(statement, into: &printer) }
    }

    private func readStandardInput() throws -> String {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw CLIError.input("no SQL on stdin")
        }
        return text
    }
}
