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
            Listens for POST /webhooks/circleci, verifies the circleci-signature header against the
            configured secrets, and stores each event once by its id. GET /healthz answers 200 while
            the database answers. SIGTERM or SIGINT stops accepting, finishes in-flight requests,
            closes the database and exits 0.

            Secrets: CIRCLE_ARCHIVE_SECRETS (comma-separated) and/or --secret-file (one per line;
            blank lines and lines starting with # are ignored). Any one may match, so a secret can
            be rotated without losing deliveries. Without a secret, serve refuses to start (exit 2)
            unless --allow-unsigned is given.

            Examples:
              CIRCLE_ARCHIVE_SECRETS=s3cret circle-archive serve
              circle-archive serve --db /data/ci.sqlite --host 0.0.0.0 --port 8080 --secret-file /run/secrets/circleci
              circle-archive serve --allow-unsigned          # local trials only
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(help: ArgumentHelp("Address to listen on.", discussion: "Default: $CIRCLE_ARCHIVE_HOST, else 127.0.0.1."))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on.", discussion: "Default: $CIRCLE_ARCHIVE_PORT, else 8080."))
    var port: Int?

    @Option(help: ArgumentHelp("File with webhook secrets, one per line.", valueName: "path"))
    var secretFile: String?

    @Flag(help: "Accept deliveries without a signature check (local trials only; never behind a public URL).")
    var allowUnsigned = false

    @Option(help: "Largest request body accepted, in bytes.")
    var maxBodyBytes: Int = ServeConfiguration.defaultMaxBodyBytes

    @Option(help: "Seconds a request may take from its first byte to its answer; slower senders get 408.")
    var requestTimeout: Double = ServeConfiguration.defaultRequestTimeout

    @Option(help: "Connections served at once; more wait in the listen backlog.")
    var maxConnections: Int = ServeConfiguration.defaultMaxConnections

    @Option(
        help: ArgumentHelp(
            "Job and workflow names with series of their own in /metrics.",
            discussion: "Per project and name, for jobs and for workflows each; runs of further names count under \"(other)\"."))
    var metricsSeriesLimit: Int = ArchiveMetrics.defaultSeriesLimit

    @Option(
        help: ArgumentHelp(
            "Commit durability: full or normal.",
            discussion: "full (default) fsyncs every commit, so an acknowledged event survives power loss; "
                + "normal survives a crash of the process but may lose the last commits on power loss."))
    var durability: ArchiveStore.Durability = .full

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format on stderr: text, or json for one JSON object per line.")
    var logFormat: LogFormat = .text

    func run() async throws {
        let environment = processEnvironment
        let configuration: ServeConfiguration
        do {
            configuration = try resolve(environment)
            try configuration.validate()
        } catch {
            throw reportFailure(error)
        }
        let (level, format) = (logLevel, logFormat)
        LoggingSystem.bootstrap { label in format.handler(label: label, level: level) }
        let logger = Logger(label: "circle-archive")
        do {
            let app = try await buildApplication(configuration, logger: logger)
            logger.info(
                "serving",
                metadata: [
                    "db": "\(configuration.databasePath)", "address": "\(configuration.host):\(configuration.port)",
                    "secrets": "\(configuration.secrets.count)", "durability": "\(configuration.durability.rawValue)",
                ])
            try await app.runService()
        } catch let error as IOError {
            throw reportFailure(CLIError.output("cannot listen on \(configuration.host):\(configuration.port): \(error.description)"))
        } catch {
            throw reportFailure(error)
        }
    }

    /// Flag, then environment, then default.
    func resolve(_ environment: [String: String]) throws -> ServeConfiguration {
        var secrets = (environment["CIRCLE_ARCHIVE_SECRETS"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let secretFile {
            secrets += try Self.readSecrets(from: secretFile)
        }
        let resolvedPort: Int
        if let port {
            resolvedPort = port
        } else if let text = environment["CIRCLE_ARCHIVE_PORT"], !text.isEmpty {
            guard let value = Int(text) else { throw ConfigurationError("CIRCLE_ARCHIVE_PORT is not a number: \(text)") }
            resolvedPort = value
        } else {
            resolvedPort = ServeConfiguration.defaultPort
        }
        return ServeConfiguration(
            host: host ?? environment["CIRCLE_ARCHIVE_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? ServeConfiguration.defaultHost,
            port: resolvedPort,
            databasePath: archive.databasePath(environment),
            secrets: secrets,
            allowUnsigned: allowUnsigned,
            maxBodyBytes: maxBodyBytes,
            durability: durability,
            requestTimeout: requestTimeout,
            maxConnections: maxConnections,
            metricsSeriesLimit: metricsSeriesLimit)
    }

    static func readSecrets(from path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read secret file \(path)")
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            printMessage(
                "Warning: secret file \(path) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        return String(decoding: data, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

extension ArchiveStore.Durability: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}
