import ArchiveBackfill
import ArchiveModel
import ArchiveStore
import ArgumentParser
import Foundation

struct Enrich: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch what webhooks leave out of archived jobs (queue time, resource class, test results) from CircleCI's API.",
        discussion: """
            For every archived job with a number that was never enriched (archives built before \
            enrichment, or while serve had no token), enrich asks CircleCI's API v2 for the job's \
            details and its test results, and stores them: jobs gain queued_at, resource_class, \
            executor_type and parallelism, test_results every test. A job CircleCI no longer has \
            (past its retention) is recorded as unavailable and not asked about again.

            Jobs wait in the archive's enrichment queue, so an interrupted run (Ctrl-C, a network \
            error) continues where it stopped. A job whose fetch keeps failing waits, a minute \
            doubling to a day, and the others go on. It honors 429 Retry-After, retries server errors \
            with backoff, and asks about --concurrency jobs at once.

            The token comes from CIRCLE_TOKEN (a personal API token; it is sent as the Circle-Token \
            header and never printed). Progress goes to stderr on a terminal, a summary at the end.

            Examples:
              CIRCLE_TOKEN=… circle-archive enrich
              circle-archive enrich --since 30d --project gh/acme/widgets
            """
    )

    @OptionGroup var archive: ArchiveOptions
    @OptionGroup var api: APIOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Only jobs that completed at or after this time.", discussion: TimeBound.forms, valueName: "time"),
        transform: TimeBound.parsing
    )
    var since: TimeBound?

    @Option(
        name: .customLong("project"),
        help: ArgumentHelp("Only this project slug, e.g. gh/acme/widgets (repeatable).", valueName: "slug")
    )
    var projects: [String] = []

    @Option(help: "Jobs asked about at once (1 to 16); each costs one request for its details and one per page of its tests.")
    var concurrency = 4

    func validate() throws {
        try APIOptions.validate(concurrency: concurrency)
    }

    func run() async throws {
        let environment = processEnvironment
        let connection = try api.connection(environment, concurrency: concurrency)
        let progress = ProgressLine.onTerminal()
        let started = ContinuousClock.now
        let store = try ArchiveStore(path: archive.databasePath(environment))
        defer { try? store.close() }
        let queued = try await store.queueUnenriched(since: since?.timestamp, projects: projects)
        let enricher = Enricher(store: store, connection: connection) { counts in progress.update(Self.describe(counts, since: started)) }
        let outcome = await Interruptible.run { try await enricher.drain() }
        progress.clear()
        if outcome.interrupted {
            printMessage("interrupted; every job enriched so far is stored, and the next run continues with the rest")
            throw ExitStatus.interrupted
        }
        switch outcome.result {
        case .success(let counts):
            printMessage("queued \(queued) job\(queued == 1 ? "" : "s"); \(Self.describe(counts, since: started))")
        case .failure(let error):
            printMessage("stopped; what was fetched is stored, and the queue keeps the rest for the next run")
            throw error
        }
    }

    static func describe(_ counts: EnrichmentCounts, since started: ContinuousClock.Instant) -> String {
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        var text = "enriched \(counts.enriched) (\(counts.tests) test results), \(counts.unavailable) no longer at CircleCI"
        if counts.postponed > 0 { text += ", \(counts.postponed) postponed after failing (retried by a later run)" }
        return text + String(format: ", %d requests in %.1f s", counts.requests, elapsed)
    }
}
