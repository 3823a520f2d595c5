import ArchiveStore
import ArgumentParser

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
        let store = try ArchiveStore(path: archive.databasePath(processEnvironment))
        let version = try store.reader.schemaVersion() ?? "none"
        try store.close()
        print(version)
    }
}
