import ArchiveOutput
import ArchiveStore
import ArgumentParser
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stream jobs, workflows, pipelines or events as CSV or JSON lines, for dashboards.",
        discussion: """
            Columns are those of the matching view: jobs → job_runs, workflows → workflow_runs, \
            pipelines → pipeline_runs, events → events (with the raw payload). Rows stream in \
            completion order (creation order for pipelines, happened_at for events), so memory stays \
            flat whatever the size. With --output the file is written beside its final name and \
            renamed into place at the end, so a reader never sees half an export.

            Examples:
              circle-archive export jobs --since 1d --output /srv/exports/jobs.csv
              circle-archive export workflows --project gh/acme/widgets --format jsonl
              circle-archive export events --since 2024-06-01 --until 2024-07-01 \\
                --format jsonl > june.jsonl
            """
    )

    @OptionGroup var archive: ArchiveOptions
    @OptionGroup var filters: RunFilterOptions

    @Argument(help: "What to export: jobs, workflows, pipelines or events.")
    var source: RunSource

    @Option(name: .shortAndLong, help: "Output format: csv or jsonl.")
    var format: ExportFormat = .csv

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?

    func run() throws {
        let reader = try ArchiveReader.open(path: archive.databasePath(processEnvironment))
        let filter = filters.filter
        var rows = 0
        if let output {
            try writeAtomically(to: output) { sink in
                var printer = RowPrinter(format: format.outputFormat, sink: sink)
                try reader.export(source, filter: filter, into: &printer)
                try printer.finish()
                rows = printer.rowsWritten
            }
        } else {
            rows = try printRows(format: format.outputFormat) { try reader.export(source, filter: filter, into: &$0) }
        }
        try warnAboutUnmatched(filter, in: reader, rows: rows)
    }

    /// Writes through a temporary file next to `path`, fsyncs it and renames it into place.
    private func writeAtomically(to path: String, _ write: (OutputSink) throws -> Void) throws {
        let temporary = path + ".partial-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CLIError.output("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var isOpen = true
        defer { if isOpen { close(descriptor) } }
        do {
            try write(OutputSink(descriptor: descriptor))
            guard fsync(descriptor) == 0 else { throw CLIError.output("cannot write \(temporary): \(String(cString: strerror(errno)))") }
            close(descriptor)
            isOpen = false
            guard rename(temporary, path) == 0 else { throw CLIError.output("cannot rename to \(path): \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

extension RunSource: ExpressibleByArgument {}

/// The formats `export` writes: those that stream, row by row, for files of any size.
enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
    case csv
    case jsonl

    var outputFormat: OutputFormat { self == .csv ? .csv : .jsonl }
}
