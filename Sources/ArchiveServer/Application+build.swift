import ArchiveBackfill
import ArchiveDashboard
import ArchiveModel
import ArchiveStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Opens the archive (applying migrations) and builds the HTTP application; it does not start it.
/// `serve` runs the result with `runService()`, which shuts down gracefully on SIGTERM and SIGINT:
/// stop accepting, finish in-flight requests, then close the database.
public func buildApplication(
    _ configuration: ServeConfiguration,
    logger: Logger
) async throws -> some ApplicationProtocol {
    try configuration.validate()
    let metrics = ArchiveMetrics(seriesLimit: configuration.metricsSeriesLimit)
    let store = try ArchiveStore(
        path: configuration.databasePath,
        options: ArchiveStore.Options(
            durability: configuration.durability,
            busyTimeout: configuration.busyTimeout,
            onCommit: { deliveries, duration in metrics.committed(deliveries: deliveries, in: duration) },
            queuesEnrichment: configuration.enrichment != nil,
            onMigration: { id, took in
                if let took {
                    logger.info("migrated the archive", metadata: ["migrations": "\(id)", "seconds": "\(took.components.seconds)"])
                } else {
                    logger.info("migrating the archive; on a large one this can take minutes", metadata: ["migrations": "\(id)"])
                }
            }
        )
    )
    // After a restart, the freshness gauge starts from the archive, not from zero.
    if let newest = try? store.reader.newestEventTime() { metrics.eventHappened(at: newest) }
    let router = buildRouter(store: store, metrics: metrics, configuration: configuration, logger: logger)
    var services: [any Service] = [
        StoreService(store: store, logger: logger), SummaryService(store: store, interval: configuration.summaryInterval, logger: logger),
    ]
    if let enrichment = configuration.enrichment {
        services.append(
            EnrichmentService(
                enricher: Enricher(store: store, connection: enrichment),
                pollInterval: configuration.enrichmentPollInterval,
                retryDelay: configuration.enrichmentRetryDelay,
                metrics: metrics,
                logger: logger
            )
        )
    }
    let http1 = HTTP1Channel.Configuration(
        idleTimeout: .nanoseconds(Int64(ServeConfiguration.idleTimeout * 1e9)),
        httpDecoderConfiguration: .init(
            maxHeaderFieldSize: ServeConfiguration.maxHeaderBytes,
            maxHeaderListSize: ServeConfiguration.maxHeaderBytes,
            maxHeaderFieldCount: ServeConfiguration.maxHeaderFields
        )
    )
    let requestTimeout = TimeAmount.nanoseconds(Int64(configuration.requestTimeout * 1e9))
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            DeadlineHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: http1), timeout: requestTimeout, logger: logger)
        },
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "circle-archive",
            availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)
        ),
        services: services,
        onServerRunning: { channel in
            // Said once the socket is bound, never before: a port in use fails without it.
            let address = channel.localAddress.map { "\($0.ipAddress ?? configuration.host):\($0.port ?? configuration.port)" }
            logger.info(
                "serving",
                metadata: [
                    "db": "\(configuration.databasePath)", "address": "\(address ?? "\(configuration.host):\(configuration.port)")",
                    "secrets": "\(configuration.secrets.count)", "durability": "\(configuration.durability.rawValue)",
                ]
            )
            if configuration.allowUnsigned {
                logger.warning(
                    """
                    --allow-unsigned: POST /webhooks/circleci accepts every delivery without checking a signature, \
                    so anyone who can reach \(address ?? configuration.host) can write to the archive; for local trials only \
                    (set CIRCLE_ARCHIVE_SECRETS for real webhooks)
                    """
                )
            }
        },
        logger: logger
    )
}

/// The dashboard alone, read-only, over an archive file (a backup, a copy): `circle-archive
/// dashboard`. It never creates, migrates or writes the archive.
public func buildDashboardApplication(
    databasePath: String,
    host: String,
    port: Int,
    logger: Logger
) throws -> some ApplicationProtocol {
    let reader = try ArchiveReader.open(path: databasePath, concurrentReads: true)
    try reader.requireCurrentSchema()
    let router = Router(context: ArchiveRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: AllowedMethodsMiddleware(allowed: Dictionary(uniqueKeysWithValues: Dashboard.paths.map { ($0, [.get, .head]) })))
    Dashboard(reader: reader).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: "circle-archive"),
        onServerRunning: { channel in
            let address = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? "\(host):\(port)"
            logger.info("serving the dashboard", metadata: ["db": "\(databasePath)", "address": "\(address)"])
        },
        logger: logger
    )
}

/// The routes, separate from the application so tests can drive them without a socket.
public func buildRouter(
    store: ArchiveStore,
    metrics: ArchiveMetrics,
    configuration: ServeConfiguration,
    logger: Logger
) -> Router<ArchiveRequestContext> {
    // HEAD answers like GET without a body: load balancers probe /healthz with it.
    let router = Router(context: ArchiveRequestContext.self, options: .autoGenerateHeadEndpoints)
    var allowed: [String: [HTTPRequest.Method]] = [WebhookController.path: [.post], "/healthz": [.get, .head], "/metrics": [.get, .head]]
    if configuration.dashboard {
        for path in Dashboard.paths { allowed[path] = [.get, .head] }
    }
    router.add(middleware: AllowedMethodsMiddleware(allowed: allowed))
    if configuration.dashboard { Dashboard(reader: store.reader).addRoutes(to: router) }
    WebhookController(
        store: store,
        verifier: configuration.allowUnsigned ? nil : SignatureVerifier(secrets: configuration.secrets),
        maxBodyBytes: configuration.maxBodyBytes,
        metrics: metrics,
        logger: logger
    ).addRoutes(to: router)
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(
                byteBuffer: ByteBuffer(
                    bytes: metrics.exposition(
                        diskUsage: store.diskUsage,
                        enrichmentQueue: configuration.enrichment == nil ? nil : try? store.enrichmentQueueLength()
                    )
                )
            )
        )
    }
    let health = HealthCheck(reader: store.reader)
    router.get("/healthz") { _, _ -> Response in
        guard let error = await health.check() else { return ReplyBody(status: "ok").response(.ok) }
        logger.error("health check failed", metadata: ["error": "\(error.message)"])
        return ReplyBody(status: "unavailable").response(.serviceUnavailable)
    }
    return router
}

/// Keeps the store open while the server runs and closes it after the server has stopped:
/// services shut down in reverse order, and the HTTP server is added after this one.
/// Enriches jobs from CircleCI's API in the background while the server runs: every job the
/// ingest path queued (in the transaction that archived its event), as it becomes due. The
/// webhook's answer never waits for it; on shutdown it stops between requests and leaves what is
/// left in the queue for the next start. Listed after `StoreService`, so it stops before the
/// store closes.
struct EnrichmentService: Service {
    let enricher: Enricher
    let pollInterval: Duration
    let retryDelay: Duration
    let metrics: ArchiveMetrics
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the loop: a wait or a request in flight ends at once.
        try? await cancelWhenGracefulShutdown {
            var reported = EnrichmentCounts()
            while !Task.isCancelled {
                var failed = false
                do throws(BackfillError) {
                    let counts = try await enricher.enrichDue()
                    // The enricher's counts add up since it started; /metrics counts what is new.
                    metrics.enrichments(
                        enriched: counts.enriched - reported.enriched,
                        unavailable: counts.unavailable - reported.unavailable,
                        postponed: counts.postponed - reported.postponed
                    )
                    reported = counts
                    if counts.enriched + counts.unavailable + counts.postponed > 0 {
                        logger.debug("enrichment", metadata: ["enriched": "\(counts.enriched)", "tests": "\(counts.tests)"])
                    }
                } catch  where error.code == .cancelled {
                    break
                } catch {
                    // A bad token or an archive that does not answer: say so, keep the queue, try later.
                    logger.error("enrichment stopped: \(error.message); the queue is kept and tried again in \(retryDelay)")
                    failed = true
                }
                try await Task.sleep(for: failed ? retryDelay : pollInterval)
            }
        }
        await enricher.shutdown()
    }
}

/// Keeps the summaries of job and workflow runs up to date while the server runs, so reports
/// over long windows read few rows (see `ArchiveStore.refreshSummaries`). Today is left to be read
/// from its runs: every new run would stale it again. An upgraded archive's days are summarized
/// on the first pass, one transaction per day, while webhooks are stored in between; the log says
/// so, since on a large archive it takes minutes. Listed after `StoreService`, so it stops first.
struct SummaryService: Service {
    let store: ArchiveStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var first = true
            while !Task.isCancelled {
                let started = ContinuousClock.now
                let today = Timestamp.now().iso8601.prefix(10)
                let announce = first
                do throws(StoreError) {
                    let refresh = try await store.refreshSummaries(before: String(today)) { done, total in
                        if announce, done == 1 || done % 100 == 0 || done == total {
                            logger.info("summarizing job runs for reports", metadata: ["day": "\(done)", "of": "\(total)"])
                        }
                    }
                    if refresh.days + refresh.periods > 0 {
                        let seconds = (ContinuousClock.now - started).components.seconds
                        logger.log(
                            level: first ? .info : .debug,
                            "summaries refreshed",
                            metadata: ["days": "\(refresh.days)", "months and weeks": "\(refresh.periods)", "seconds": "\(seconds)"]
                        )
                    }
                } catch {
                    logger.error("refreshing the summaries of job runs failed: \(error.message); reports read the runs meanwhile")
                }
                first = false
                try await Task.sleep(for: interval)
            }
        }
    }
}

struct StoreService: Service {
    let store: ArchiveStore
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try store.close()
            logger.info("archive closed", metadata: ["db": "\(store.path)"])
        } catch {
            logger.error("closing the archive failed", metadata: ["error": "\(error.message)"])
        }
    }
}

/// Answers 405 with an `Allow` header when a known path is called with another method; the router
/// alone would answer 404, which would send a sender looking for the wrong mistake.
struct AllowedMethodsMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let methods = allowed[request.uri.path], !methods.contains(request.method) {
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            return ReplyBody(error: "method not allowed").response(.methodNotAllowed, headers: [.allow: allow])
        }
        return try await next(request, context)
    }
}
