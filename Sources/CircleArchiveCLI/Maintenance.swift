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

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the archive to a new file, while the server keeps writing.",
        discussion: """
            The copy is a snapshot of one moment (SQLite's VACUUM INTO), compacted, and a complete \
            archive by itself: point --db at it to query or serve it. OUT must not exist.

            Example:
              circle-archive backup /backups/ci-$(date +%F).sqlite
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Argument(help: ArgumentHelp("The file to create.", valueName: "out"))
    var destination: String

    func run() throws {
        do {
            let reader = try ArchiveReader.open(path: archive.databasePath(processEnvironment))
            try reader.backup(to: destination)
            let size = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? NSNumber)?.int64Value ?? 0
            printMessage("backed up \(reader.path) to \(destination) (\(size) bytes)")
        } catch {
            throw reportFailure(error)
        }
    }
}
