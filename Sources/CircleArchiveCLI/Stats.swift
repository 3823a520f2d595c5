import ArchiveOutput
import ArchiveStore
import ArgumentParser
import Foundation

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show row counts, event times, recent events by type, size, schema version and an integrity check.",
        discussion: """
            Prints (metric, value) rows; quick_check is SQLite's PRAGMA quick_check ("ok" when sound).

            Examples:
              circle-archive stats
              circle-archive stats --format json
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(name: .shortAndLong, help: "Output format: table, csv, json, jsonl or markdown.")
    var format: OutputFormat = .table

    func run() throws {
        try printFromArchive(archive, format: format) { reader, printer in try reader.stats(into: &printer) }
    }
}
