import ArchiveOutput
import ArchiveStore
import ArgumentParser
import Foundation

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one read-only SQL statement against the archive.",
        usage: "circle-archive query [--db <path>] [--format <format>] <sql>",
        discussion: """
            The archive is opened read-only: a statement that writes fails and changes nothing. \
            Tables: events, organizations, projects, pipelines, workflows, jobs, rejected_deliveries. \
            Views: job_runs, workflow_runs (with duration_seconds). Timestamps are UTC ISO 8601 text.

            One statement per run; it may begin with -- comment lines, as README's cookbook \
            queries do. --format table holds the whole result to size its columns: for large \
            results use csv or jsonl, which stream.

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

    /// Everything the parser did not recognise, so that a statement starting with a `-- comment`
    /// line (as cookbook queries do) is taken for SQL rather than for an option; `validate` then
    /// tells a real unknown option from SQL.
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp("One SQL statement (quoted as one argument), or - to read it from stdin.", valueName: "sql")
    )
    var arguments: [String] = []

    /// The statement argument: `-`, or text with a blank or a line break in it; anything else that
    /// starts with a dash is an option this command does not have.
    func validate() throws {
        for argument in arguments where argument != "-" && argument.hasPrefix("-") && !argument.contains(where: \.isWhitespace) {
            throw ValidationError("Unknown option '\(argument)'")
        }
        guard !arguments.isEmpty else { throw ValidationError("Missing expected argument '<sql>'") }
        guard arguments.count == 1 else {
            throw ValidationError(
                "query takes one SQL statement, as one quoted argument; got \(arguments.count) arguments: \(arguments.joined(separator: " "))"
            )
        }
    }

    func run() throws {
        let statement = arguments[0] == "-" ? try readStandardInput() : arguments[0]
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
