import ArchiveBackfill
import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArgumentParser
import Foundation

struct Backfill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch past pipelines, workflows and jobs from CircleCI's API into the archive.",
        discussion: """
            Webhooks only deliver what happens after they are set up. backfill reads a project's \
            pipelines from CircleCI's API v2, newest first, down to --since, with their workflows and \
            jobs, into the same tables, by the same rules: a webhook about the same run agrees with \
            it, and the newer of the two wins. Backfilled rows have source = 'api'. Approval jobs are \
            skipped; running workflows and jobs are stored as running and completed by their webhooks \
            or the next backfill.

            It is incremental and resumable: each page is stored with how far it got, so a second \
            run fetches only what is new, and an interrupted one (Ctrl-C, a network error) \
            continues where it stopped. It honors 429 Retry-After, retries server errors with \
            backoff, and fetches --concurrency pipelines at once. Then it enriches the jobs it \
            stored, as circle-archive enrich does (--no-enrich to skip).

            The token comes from CIRCLE_TOKEN (a personal API token; it is sent as the Circle-Token \
            header and never printed). Progress goes to stderr on a terminal, a summary at the end.

            Examples:
              CIRCLE_TOKEN=… circle-archive backfill --project gh/acme/widgets
              circle-archive backfill --project gh/acme/widgets --project gh/acme/gadgets \\
                --since 30d --branch main
              circle-archive backfill --project circleci/ORG-ID/PROJECT-ID \\
                --api-url https://circleci.example.com/api/v2
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(
        name: .customLong("project"),
        help: ArgumentHelp(
            "Project slug: gh/ORG/REPO, bb/ORG/REPO, or circleci/ORG-ID/PROJECT-ID (repeatable).",
            discussion: "The slug is in the project's URL in CircleCI, and under Project Settings → Overview.",
            valueName: "slug"
        )
    )
    var projects: [String] = []

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Only pipelines created at or after this time.",
            discussion: TimeBound.forms + " Default: \(Self.defaultSince).",
            valueName: "time"
        ),
        transform: TimeBound.parsing
    )
    var since: TimeBound = TimeBound(argument: Self.defaultSince)!

    static let defaultSince = "90d"

    @Option(help: "Only pipelines of this branch.")
    var branch: String?

    @OptionGroup var api: APIOptions

    @Option(help: "Pipelines fetched at once (1 to 16); each costs a few requests.")
    var concurrency = 4

    @Flag(help: "Do not enrich the backfilled jobs (queue time, resource class, tests) from CircleCI's API.")
    var noEnrich = false

    func validate() throws {
        guard !projects.isEmpty else { throw ValidationError("name at least one --project") }
        for slug in projects where slug.split(separator: "/", omittingEmptySubsequences: false).count != 3 || slug.contains("//") {
            throw ValidationError("\(slug) is not a project slug: gh/ORG/REPO, bb/ORG/REPO or circleci/ORG-ID/PROJECT-ID")
        }
        try APIOptions.validate(concurrency: concurrency)
    }

    func run() async throws {
        let environment = processEnvironment
        let connection = try api.connection(environment, concurrency: concurrency)
        let progress = ProgressLine.onTerminal()
        let started = ContinuousClock.now
        let options = BackfillOptions(connection: connection, projectSlugs: projects, since: since.timestamp, branch: branch)
        let store = try ArchiveStore(path: archive.databasePath(environment))
        defer { try? store.close() }
        let backfiller = Backfiller(store: store, options: options) { event in
            switch event {
            case .progress(let project, let counts):
                progress.update("\(project): \(Self.describe(counts, since: started))")
            case .retrying(let path, let reason, let delay):
                progress.message("\(reason) for \(path); retrying in \(Self.seconds(delay)) s")
            case .skipped(let number, let path):
                progress.message(
                    "CircleCI has no \(path) (404); skipped pipeline \(number.map(String.init) ?? "?") for now, the next run asks again"
                )
            case .pagingFromNewest(let path, let status):
                progress.message("CircleCI refused the saved page token for \(path) (\(status)); paging from the newest page instead")
            }
        }
        // Ctrl-C stops at once: each page is its own transaction, so what was stored stays whole
        // (SQLite rolls back the page in flight), and the saved progress says where to go on.
        // Then the jobs it stored are enriched, as `enrich` would (the queue is in the archive).
        let enrich = !noEnrich
        let outcome = await Interruptible.run { () async throws -> (BackfillCounts, EnrichmentCounts?) in
            let counts = try await backfiller.run()
            try await store.refreshSummaries(showing: progress)
            guard enrich else { return (counts, nil) }
            _ = try await store.queueUnenriched(since: options.since, projects: options.projectSlugs)
            let enricher = Enricher(store: store, connection: connection) { enriched in
                progress.update(Enrich.describe(enriched, since: started))
            }
            return (counts, try await enricher.drain())
        }
        progress.clear()
        if outcome.interrupted {
            printMessage("interrupted; every page stored so far is kept, and the next run continues from there")
            throw ExitStatus.interrupted
        }
        switch outcome.result {
        case .success(let (counts, enriched)):
            printMessage("backfilled \(options.projectSlugs.joined(separator: ", ")): \(Self.describe(counts, since: started))")
            if let enriched { printMessage(Enrich.describe(enriched, since: started)) }
        case .failure(let error):
            printMessage("stopped; what was fetched is stored, and the next run continues from there")
            throw error
        }
    }

    static func describe(_ counts: BackfillCounts, since started: ContinuousClock.Instant) -> String {
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        var parts = [count(counts.pipelines, "pipeline")]
        if counts.pipelinesAlreadyFinished > 0 { parts[0] += " (and \(counts.pipelinesAlreadyFinished) already complete)" }
        if counts.pipelinesSkipped > 0 { parts[0] += " (skipped \(counts.pipelinesSkipped) CircleCI answered 404 for; the next run asks again)" }
        parts.append(count(counts.workflows, "workflow"))
        parts.append(count(counts.jobs, "job") + (counts.approvalsSkipped > 0 ? " (skipped \(count(counts.approvalsSkipped, "approval job")))" : ""))
        parts.append(count(counts.requests, "request") + (counts.retries > 0 ? " (\(counts.retries) retried)" : ""))
        parts.append(String(format: "%.1f s (%.1f requests/s)", elapsed, elapsed > 0 ? Double(counts.requests) / elapsed : 0))
        return parts.joined(separator: ", ")
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f", duration / .seconds(1))
    }
}
