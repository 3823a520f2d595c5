import ArchiveModel
import ArchiveOutput
import ArchiveStore
import ArgumentParser
import Foundation

/// The filters shared by `report` and `export`.
struct RunFilterOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Only runs that completed at or after this time.", discussion: TimeBound.forms, valueName: "time"),
        transform: TimeBound.parsing
    )
    var since: TimeBound?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Only runs that completed before this time (same forms as --since).", valueName: "time"),
        transform: TimeBound.parsing
    )
    var until: TimeBound?

    @Option(
        name: .customLong("project"),
        help: ArgumentHelp(
            "Only this project slug, e.g. gh/acme/widgets (repeatable).",
            discussion: "github/ORG/REPO, as webhooks spell it, names the same project as gh/ORG/REPO (bitbucket/ and bb/ likewise).",
            valueName: "slug"
        )
    )
    var projects: [String] = []

    @Option(help: "Only pipelines of this branch.")
    var branch: String?

    @Option(help: "Only this workflow name.")
    var workflow: String?

    @Option(help: "Only this job name.")
    var job: String?

    var filter: RunFilter {
        RunFilter(
            since: since?.timestamp,
            until: until?.timestamp,
            projects: projects,
            branch: branch,
            workflow: workflow,
            job: job
        )
    }
}

/// A time given on the command line, resolved against the clock once, when parsed.
struct TimeBound: CustomStringConvertible {
    let timestamp: Timestamp
    /// As it was written, which is how help shows a default (`90d`).
    let description: String

    init?(argument: String) {
        guard let timestamp = Timestamp(bound: argument, now: .now()) else { return nil }
        self.timestamp = timestamp
        description = argument
    }

    /// The forms accepted, for help and for the message about a value that is none of them.
    static let forms = Timestamp.boundForms

    /// The `transform` of every time option: a value that is not a time is refused with the forms
    /// that are. Options read their value unconditionally, so `--since -7d` reaches here too.
    static func parsing(_ text: String) throws -> TimeBound {
        if let bound = TimeBound(argument: text) { return bound }
        let minus = text.hasPrefix("-") && TimeBound(argument: String(text.dropFirst())) != nil
        throw ValidationError(
            (minus ? "a time ago has no minus sign: write \(text.dropFirst()). " : "not a time. ") + forms
        )
    }
}

/// Prints a result through the output layer to stdout; returns how many rows it printed.
@discardableResult
func printRows(format: OutputFormat, _ produce: (inout RowPrinter) throws -> Void) throws -> Int {
    var printer = RowPrinter(format: format, sink: OutputSink(descriptor: STDOUT_FILENO)) {
        printMessage("note: more than 10,000 rows; the columns are sized on the first 10,000 (--format csv or jsonl suits large results)")
    }
    try produce(&printer)
    try printer.finish()
    return printer.rowsWritten
}

/// The shape of every read-only command that prints rows: open the archive read-only, print what
/// `produce` writes to stdout. With a `filter`, a filter that matches nothing is named on stderr
/// (see `warnAboutUnmatched`).
func printFromArchive(
    _ archive: ArchiveOptions,
    format: OutputFormat,
    filter: RunFilter? = nil,
    _ produce: (ArchiveReader, inout RowPrinter) throws -> Void
) throws {
    let reader = try ArchiveReader.open(path: archive.databasePath(processEnvironment))
    let rows = try printRows(format: format) { try produce(reader, &$0) }
    if let filter { try warnAboutUnmatched(filter, in: reader, rows: rows) }
}

/// An empty result stays empty (scripts rely on it), but a filter that matches nothing in the
/// archive, a mistyped job name say, is named on stderr, and unknown projects with the ones there are.
func warnAboutUnmatched(_ filter: RunFilter, in reader: ArchiveReader, rows: Int) throws {
    for message in try reader.unmatched(filter, resultIsEmpty: rows == 0) {
        printMessage("warning: \(message)")
    }
}
