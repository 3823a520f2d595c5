import ArchiveStore
import ArgumentParser
import Foundation

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
        let reader = try ArchiveReader.open(path: archive.databasePath(processEnvironment))
        try reader.backup(to: destination)
        printMessage("backed up \(reader.path) to \(destination) (\(ArchiveStore.fileSize(destination)) bytes)")
    }
}
