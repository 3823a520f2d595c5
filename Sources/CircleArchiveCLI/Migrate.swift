import ArchiveStore
import ArgumentParser
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the archive or apply pending schema migrations, then print the schema version.",
        discussion: """
            serve applies migrations itself on start; migrate is for preparing a file in advance \
            or upgrading it on purpose. Migrations are compiled into the binary. migrate also \
            brings the summaries reports read up to date (serve and import do too), with \
            progress on stderr: on an upgraded archive of millions of jobs this takes minutes, \
            and Ctrl-C stops it safely.

            Example:
              circle-archive migrate --db /data/ci.sqlite
            """
    )

    @OptionGroup var archive: ArchiveOptions

    func run() async throws {
        let store = try ArchiveStore(
            path: archive.databasePath(processEnvironment),
            options: .init(onMigration: { id, took in
                printMessage(took.map { "applied \(id) in \(String(format: "%.1f", $0 / .seconds(1))) s" } ?? "applying \(id)…")
            })
        )
        let progress = ProgressLine.onTerminal()
        let outcome = await Interruptible.run {
            try await store.refreshSummaries(showing: progress)
        }
        progress.clear()
        let version = try store.reader.schemaVersion() ?? "none"
        try store.close()
        if outcome.interrupted {
            printMessage("interrupted; the schema is migrated and the days summarized so far are kept. Run migrate again to finish.")
            throw ExitStatus.interrupted
        }
        _ = try outcome.result.get()
        print(version)
    }
}
