import ArchiveBackfill
import ArchiveModel
import ArchiveStore

/// Everything `serve` needs, resolved once by the CLI (flag, then environment, then default).
/// Code below the CLI never reads the environment.
public struct ServeConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databasePath: String
    /// Secrets any one of which may sign a delivery, so a secret can be rotated without losing
    /// deliveries. Empty only with `allowUnsigned`.
    public var secrets: [String]
    /// Accept deliveries without checking `circleci-signature` (for local trials only).
    public var allowUnsigned: Bool
    /// The largest body accepted; a body of exactly this size is accepted.
    public var maxBodyBytes: Int
    public var durability: ArchiveStore.Durability
    /// How long a write waits for another process's lock before the delivery gets 503. Under
    /// CircleCI's 10 s delivery timeout, so the sender hears back and retries later.
    public var busyTimeout: Double
    /// Seconds from a request's first byte to its answer; a slower sender gets 408 and is
    /// disconnected. Well above `busyTimeout`, so only slow senders reach it.
    public var requestTimeout: Double
    /// Connections served at once; more wait in the listen backlog until one closes.
    public var maxConnections: Int
    /// (project, name) pairs with series of their own in `/metrics`, for jobs and for workflows each.
    public var metricsSeriesLimit: Int
    /// Enrich each newly archived job from CircleCI's API in the background (its URL, token and
    /// concurrency); nil to leave it off.
    public var enrichment: APIConnection?
    /// Serve the read-only dashboard (`GET /` and its pages) beside the webhook route.
    public var dashboard: Bool
    /// How often the enrichment worker looks for due jobs when it has none.
    public var enrichmentPollInterval: Duration = .seconds(2)
    /// How long the worker waits after CircleCI refused the token (or the archive failed) before
    /// it tries again; the queue is kept meanwhile.
    public var enrichmentRetryDelay: Duration = .seconds(60)
    /// How often the summaries of job runs are brought up to date (days before today; see
    /// `ArchiveStore.refreshSummaries`).
    public var summaryInterval: Duration = .seconds(60)

    /// Request headers, all together, in bytes, and in number; CircleCI sends well under 2 KiB.
    public static let maxHeaderBytes = 16 * 1024
    public static let maxHeaderFields = 100
    /// Seconds a keep-alive connection may sit idle between requests.
    public static let idleTimeout = 60.0

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 8080
    public static let defaultMaxBodyBytes = 1 << 20
    public static let defaultRequestTimeout = 30.0
    public static let defaultMaxConnections = 256

    public init(
        host: String = defaultHost,
        port: Int = defaultPort,
        databasePath: String,
        secrets: [String] = [],
        allowUnsigned: Bool = false,
        maxBodyBytes: Int = defaultMaxBodyBytes,
        durability: ArchiveStore.Durability = .full,
        busyTimeout: Double = 5,
        requestTimeout: Double = defaultRequestTimeout,
        maxConnections: Int = defaultMaxConnections,
        metricsSeriesLimit: Int = ArchiveMetrics.defaultSeriesLimit,
        enrichment: APIConnection? = nil,
        dashboard: Bool = true
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.secrets = secrets
        self.allowUnsigned = allowUnsigned
        self.maxBodyBytes = maxBodyBytes
        self.durability = durability
        self.busyTimeout = busyTimeout
        self.requestTimeout = requestTimeout
        self.maxConnections = maxConnections
        self.metricsSeriesLimit = metricsSeriesLimit
        self.enrichment = enrichment
        self.dashboard = dashboard
    }

    /// Checks the combination of settings before anything is opened.
    public func validate() throws(ConfigurationError) {
        if secrets.isEmpty && !allowUnsigned {
            throw ConfigurationError(
                "no webhook secret: set CIRCLE_ARCHIVE_SECRETS (comma-separated) or pass --secret-file PATH; "
                    + "--allow-unsigned accepts unsigned deliveries for local trials"
            )
        }
        if !secrets.isEmpty && allowUnsigned {
            throw ConfigurationError("--allow-unsigned cannot be combined with a webhook secret: signed deliveries are always verified")
        }
        if secrets.contains(where: \.isEmpty) {
            throw ConfigurationError("a webhook secret is empty")
        }
        guard (0...65535).contains(port) else { throw ConfigurationError("port \(port) is out of range 0-65535") }
        guard maxBodyBytes > 0 else { throw ConfigurationError("--max-body-bytes must be positive") }
        guard requestTimeout > 0 else { throw ConfigurationError("--request-timeout must be positive") }
        guard requestTimeout > busyTimeout else {
            throw ConfigurationError("--request-timeout (\(requestTimeout) s) must exceed the busy timeout (\(busyTimeout) s)")
        }
        guard maxConnections > 0 else { throw ConfigurationError("--max-connections must be positive") }
        guard metricsSeriesLimit >= 0 else { throw ConfigurationError("--metrics-series-limit must not be negative") }
    }
}

/// A configuration mistake the operator must fix; the CLI exits 2 with its message.
public struct ConfigurationError: ArchiveError {
    public enum Code: String, Sendable {
        case invalid
    }

    public var code: Code { .invalid }
    public var message: String
    public init(_ message: String) { self.message = message }
}
