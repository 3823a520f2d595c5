import ArchiveBackfill
import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive CircleCI webhooks and archive every event.",
        discussion: """
            Listens for POST /webhooks/circleci, verifies the circleci-signature header against the \
            configured secrets, and stores each event once by its id. GET /healthz answers 200 while \
            the database answers; GET /metrics serves Prometheus metrics; GET / serves the read-only \
            dashboard (--no-dashboard turns it off). Like /metrics, the dashboard names projects and \
            jobs: keep it off the public internet (README's proxy examples pass only the webhook). \
            SIGTERM or SIGINT stops accepting, finishes in-flight requests, closes the database and \
            exits 0.

            Secrets: CIRCLE_ARCHIVE_SECRETS (comma-separated) and/or --secret-file (one per line; \
            blank lines and lines starting with # are ignored). Any one may match, so a secret can \
            be rotated without losing deliveries. Without a secret, serve refuses to start (exit 2) \
            unless --allow-unsigned is given.

            Examples:
              CIRCLE_ARCHIVE_SECRETS=s3cret circle-archive serve
              circle-archive serve --db /data/ci.sqlite --host 0.0.0.0 --port 8080 \\
                --secret-file /run/secrets/circleci
              circle-archive serve --allow-unsigned          # local trials only
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(help: ArgumentHelp("Address to listen on.", discussion: Self.fallback("HOST", ServeConfiguration.defaultHost)))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on.", discussion: Self.fallback("PORT", ServeConfiguration.defaultPort)))
    var port: Int?

    @Option(help: ArgumentHelp("File with webhook secrets, one per line.", valueName: "path"))
    var secretFile: String?

    @Flag(help: "Accept deliveries without a signature check (local trials only; never behind a public URL).")
    var allowUnsigned = false

    @Option(
        help: ArgumentHelp(
            "Largest request body accepted, in bytes.",
            discussion: Self.fallback("MAX_BODY_BYTES", ServeConfiguration.defaultMaxBodyBytes)
        )
    )
    var maxBodyBytes: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds a request may take from its first byte to its answer; slower senders get 408.",
            discussion: Self.fallback("REQUEST_TIMEOUT", ServeConfiguration.defaultRequestTimeout)
        )
    )
    var requestTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Connections served at once; more wait in the listen backlog.",
            discussion: Self.fallback("MAX_CONNECTIONS", ServeConfiguration.defaultMaxConnections)
        )
    )
    var maxConnections: Int?

    @Option(
        help: ArgumentHelp(
            "Job and workflow names with series of their own in /metrics.",
            discussion: "Per project and name, for jobs and for workflows each; runs of further names count under \"(other)\". "
                + Self.fallback("METRICS_SERIES_LIMIT", ArchiveMetrics.defaultSeriesLimit)
        )
    )
    var metricsSeriesLimit: Int?

    @Option(
        help: ArgumentHelp(
            "Commit durability: full or normal.",
            discussion: "full fsyncs every commit, so an acknowledged event survives power loss; "
                + "normal survives a crash of the process but may lose the last commits on power loss. "
                + Self.fallback("DURABILITY", ArchiveStore.Durability.full.rawValue)
        )
    )
    var durability: ArchiveStore.Durability?

    @Option(
        help: ArgumentHelp(
            "Log level: trace, debug, info, notice, warning, error or critical.",
            discussion: Self.fallback("LOG_LEVEL", Logger.Level.info.rawValue)
        )
    )
    var logLevel: Logger.Level?

    @Option(
        help: ArgumentHelp(
            "Log format on stderr: text, or json for one JSON object per line.",
            discussion: Self.fallback("LOG_FORMAT", LogFormat.text.rawValue)
        )
    )
    var logFormat: LogFormat?

    /// With a token, each new job is enriched from CircleCI's API; without one, enrichment is off.
    @OptionGroup var api: APIOptions

    @Flag(help: "Do not enrich jobs from CircleCI's API, even with a token.")
    var noEnrich = false

    @Flag(help: "Do not serve the dashboard (GET / and its pages).")
    var noDashboard = false

    /// "Default: $CIRCLE_ARCHIVE_<NAME>, else <value>.", the line every setting's help ends with.
    private static func fallback(_ name: String, _ value: Any) -> String {
        "Default: $\(Setting.prefix)\(name), else \(value)."
    }

    func run() async throws {
        let environment = processEnvironment
        let configuration = try resolve(environment)
        try configuration.validate()
        let settings = Setting(environment: environment)
        let level = try settings.value(logLevel, "LOG_LEVEL", default: .info)
        let format = try settings.value(logFormat, "LOG_FORMAT", default: .text)
        LoggingSystem.bootstrap { label in format.handler(label: label, level: level) }
        let logger = Logger(label: "circle-archive")
        if configuration.enrichment == nil && !noEnrich {
            logger.info(
                "enrichment is off: set CIRCLE_TOKEN or pass --circleci-token-file to archive each job's queue time, resource class and tests from CircleCI's API"
            )
        }
        do {
            let app = try await buildApplication(configuration, logger: logger)
            try await app.runService()
        } catch let error as IOError {
            throw CLIError.output(Self.cannotListen(on: "\(configuration.host):\(configuration.port)", error))
        }
    }

    /// What to do about an address the server cannot bind, in words.
    static func cannotListen(on address: String, _ error: IOError) -> String {
        switch error.errnoCode {
        case EADDRINUSE: "\(address) is in use; choose another with --port or CIRCLE_ARCHIVE_PORT"
        case EACCES: "no permission to listen on \(address): ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another with --port"
        case EADDRNOTAVAIL: "cannot listen on \(address): no interface of this machine has that address; choose another with --host"
        default: "cannot listen on \(address): \(error.description)"
        }
    }

    /// Each setting: the flag, then its environment variable, then the default.
    func resolve(_ environment: [String: String]) throws -> ServeConfiguration {
        var secrets = (environment["CIRCLE_ARCHIVE_SECRETS"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let secretFile {
            secrets += try Self.readSecrets(from: secretFile)
        }
        let settings = Setting(environment: environment)
        var enrichment: APIConnection?
        if !noEnrich, let token = try api.token(environment) {
            enrichment = APIConnection(url: try api.url(environment), token: token)
        }
        return ServeConfiguration(
            host: settings.text(host, "HOST", default: ServeConfiguration.defaultHost),
            port: try settings.value(port, "PORT", default: ServeConfiguration.defaultPort),
            databasePath: archive.databasePath(environment),
            secrets: secrets,
            allowUnsigned: allowUnsigned,
            maxBodyBytes: try settings.value(maxBodyBytes, "MAX_BODY_BYTES", default: ServeConfiguration.defaultMaxBodyBytes),
            durability: try settings.value(durability, "DURABILITY", default: .full),
            requestTimeout: try settings.value(requestTimeout, "REQUEST_TIMEOUT", default: ServeConfiguration.defaultRequestTimeout),
            maxConnections: try settings.value(maxConnections, "MAX_CONNECTIONS", default: ServeConfiguration.defaultMaxConnections),
            metricsSeriesLimit: try settings.value(metricsSeriesLimit, "METRICS_SERIES_LIMIT", default: ArchiveMetrics.defaultSeriesLimit),
            enrichment: enrichment,
            dashboard: !noDashboard
        )
    }

    static func readSecrets(from path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read secret file \(path)")
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            printMessage(
                "Warning: secret file \(path) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"
            )
        }
        return String(decoding: data, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

extension ArchiveStore.Durability: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}
