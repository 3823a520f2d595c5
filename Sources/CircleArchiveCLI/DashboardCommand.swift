import ArchiveServer
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore

/// `circle-archive dashboard`: the pages `serve` shows at `GET /`, over any archive file.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the read-only dashboard over an archive file, without receiving webhooks.",
        discussion: """
            The same pages serve shows at GET /: per project, runs and failure rate per day and \
            workflow duration per week; jobs getting worse; each workflow's and job's runs; flaky \
            and failing tests; every table as CSV and JSON, the bytes circle-archive report prints. \
            It opens the archive read-only, so it can point at a backup, a copy on a laptop, or the \
            file serve is writing. Filters go in the URL: ?project=gh/acme/widgets&since=30d&job=test.

            Examples:
              circle-archive dashboard --db /backups/ci-2026-11-23.sqlite
              circle-archive dashboard --port 8090     # then open http://127.0.0.1:8090/
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(help: "Address to listen on; the pages name projects and jobs, so keep it private.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8090

    func run() async throws {
        LoggingSystem.bootstrap { label in LogFormat.text.handler(label: label, level: .info) }
        let logger = Logger(label: "circle-archive")
        let path = archive.databasePath(processEnvironment)
        do {
            let app = try buildDashboardApplication(databasePath: path, host: host, port: port, logger: logger)
            try await app.runService()
        } catch let error as IOError {
            throw CLIError.output(Serve.cannotListen(on: "\(host):\(port)", error))
        }
    }
}
