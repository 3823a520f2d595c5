import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

let secret = "webhook-secret"
let logger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

/// A configuration on a fresh database file, on an ephemeral loopback port.
func testConfiguration(_ change: (inout ServeConfiguration) -> Void = { _ in }) throws -> ServeConfiguration {
    let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
    var configuration = ServeConfiguration(port: 0, databasePath: path, secrets: [secret])
    change(&configuration)
    return configuration
}

/// Runs `test` against the application built from `configuration`; `.router` needs no socket,
/// `.ahc(.http)` runs the real server on a loopback port.
func withServer(
    _ configuration: ServeConfiguration,
    _ setup: TestingSetup = .router,
    _ test: @escaping @Sendable (any TestClientProtocol, ArchiveReader) async throws -> Void
) async throws {
    let app = try await buildApplication(configuration, logger: logger)
    let reader = try ArchiveReader.open(path: configuration.databasePath)
    try await app.test(setup) { client in try await test(client, reader) }
}

func signedHeaders(_ body: String, eventType: String = "job-completed") -> HTTPFields {
    [
        HTTPField.Name("circleci-signature")!: signature(for: body, secret: secret),
        HTTPField.Name("circleci-event-type")!: eventType,
        .contentType: "application/json",
    ]
}

extension TestClientProtocol {
    /// POSTs `body` to the webhook route and returns status and body text.
    func deliver(_ body: String, headers: HTTPFields? = nil) async throws -> (HTTPResponse.Status, String) {
        try await execute(uri: "/webhooks/circleci", method: .post, headers: headers ?? signedHeaders(body), body: ByteBuffer(string: body)) {
            ($0.status, String(buffer: $0.body))
        }
    }
}

extension ArchiveReader {
    func count(_ table: String) throws -> Int64 {
        var collector = RowCollector()
        try query("SELECT count(*) FROM \(table)", into: &collector)
        guard case .integer(let count) = collector.rows.first?.first else { return -1 }
        return count
    }
}

/// Route tests run through the router alone and again over real HTTP on a loopback port.
let transports: [TestingSetup] = [.router, .ahc(.http)]

@Suite struct WebhookRouteTests {
    @Test(arguments: transports)
    func storesASignedEventThenReportsItAsDuplicate(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, reader) async throws in
            let body = Fixtures.jobCompleted()
            let first = try await client.deliver(body)
            #expect(first.0 == .ok)
            #expect(first.1 == #"{"status":"stored","id":"b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"}"#)
            let second = try await client.deliver(body)
            #expect(second.0 == .ok)
            #expect(second.1 == #"{"status":"duplicate","id":"b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"}"#)
            #expect(try reader.count("events") == 1)
            #expect(try reader.texts("SELECT job_name, job_status, branch FROM job_runs") == ["test|success|main"])
        }
    }

    @Test func everyEventTypeIsArchived() async throws {
        try await withServer(try testConfiguration()) { (client, reader) async throws in
            for body in [
                Fixtures.ping, Fixtures.workflowCompleted(), Fixtures.gitlabWorkflowCompleted, Fixtures.gitlabJobCompleted,
                Fixtures.githubAppJobCompleted, Fixtures.futureEvent,
            ] {
                #expect(try await client.deliver(body).0 == .ok)
            }
            let counts = try reader.texts("SELECT type, count(*) FROM events GROUP BY type ORDER BY type")
            #expect(counts == ["job-completed|2", "ping|1", "pipeline-started|1", "workflow-completed|2"], "\(counts)")
        }
    }

    @Test(arguments: transports)
    func forgedOrUnsignedDeliveriesAre401AndWriteNothing(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, reader) async throws in
            let body = Fixtures.jobCompleted()
            let forgeries: [HTTPFields] = [
                [:],
                [HTTPField.Name("circleci-signature")!: ""],
                [HTTPField.Name("circleci-signature")!: signature(for: body, secret: "wrong")],
                [HTTPField.Name("circleci-signature")!: signature(for: body + " ", secret: secret)],
                [HTTPField.Name("circleci-signature")!: "v2=" + signature(for: body, secret: secret).dropFirst(3)],
                [HTTPField.Name("circleci-signature")!: "v1=zz"],
                HTTPFields([
                    HTTPField(name: HTTPField.Name("circleci-signature")!, value: signature(for: body, secret: secret)),
                    HTTPField(name: HTTPField.Name("circleci-signature")!, value: signature(for: body, secret: secret)),
                ]),
            ]
            for headers in forgeries {
                let (status, text) = try await client.deliver(body, headers: headers)
                #expect(status == .unauthorized, "\(headers)")
                #expect(text.contains("circleci-signature"))
            }
            // Garbage that is also unsigned is not kept either.
            #expect(try await client.deliver("not json", headers: [:]).0 == .unauthorized)
            #expect(try reader.count("events") == 0)
            #expect(try reader.count("rejected_deliveries") == 0)
        }
    }

    @Test(arguments: [
        ("", "empty document"),
        ("{\"id\":\"a\",\"type\":\"ping\"", "unexpected end"),
        ("[{\"id\":\"a\"}]", "not a JSON object"),
        ("null", "not a JSON object"),
        ("{\"type\":\"ping\",\"happened_at\":\"2024-01-01T00:00:00Z\"}", "non-string"),
        ("{\"id\":\"a\",\"type\":\"ping\",\"happened_at\":\"soon\"}", "happened_at"),
        (String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), "nesting"),
    ])
    func signedButMalformedBodiesAre400AndKept(body: String, reason: String) async throws {
        try await withServer(try testConfiguration()) { (client, reader) async throws in
            let (status, text) = try await client.deliver(body, headers: signedHeaders(body, eventType: "ping"))
            #expect(status == .badRequest)
            #expect(text.contains(#""status":"rejected""#) && text.contains(reason), "\(text)")
            #expect(try reader.count("events") == 0)
            #expect(try reader.texts("SELECT event_type, length(body) FROM rejected_deliveries") == ["ping|\(body.utf8.count)"])
        }
    }

    @Test(arguments: transports)
    func invalidUTF8IsRejected(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, reader) async throws in
            let bytes: [UInt8] = Array(#"{"id":""#.utf8) + [0xC3, 0x28] + Array(#"","type":"ping","happened_at":"2024-01-01T00:00:00Z"}"#.utf8)
            let headers: HTTPFields = [HTTPField.Name("circleci-signature")!: signature(for: bytes, secret: secret)]
            let status = try await client.execute(uri: "/webhooks/circleci", method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) {
                $0.status
            }
            #expect(status == .badRequest)
            #expect(try reader.texts("SELECT hex(body) FROM rejected_deliveries") == [bytes.map { String(format: "%02X", $0) }.joined()])
        }
    }

    @Test(arguments: transports)
    func bodiesOverTheLimitAre413AndExactlyTheLimitIsAccepted(transport: TestingSetup) async throws {
        let limit = 4096
        try await withServer(try testConfiguration { $0.maxBodyBytes = limit }, transport) { (client, reader) async throws in
            let event = Fixtures.ping
            let exact = event + String(repeating: " ", count: limit - event.utf8.count)
            #expect(exact.utf8.count == limit)
            #expect(try await client.deliver(exact).0 == .ok)
            let over = Fixtures.jobCompleted() + String(repeating: " ", count: limit)
            let (status, text) = try await client.deliver(over)
            #expect(status == .contentTooLarge)
            #expect(text.contains("4096"))
            #expect(try reader.count("events") == 1)
        }
    }

    /// The body limit is the only size limit: an event of exactly --max-body-bytes, most of it one
    /// string (a long commit message, say), is stored.
    @Test(arguments: transports)
    func anEventOfExactlyTheBodyLimitIsStoredHoweverLongItsStrings(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, reader) async throws in
            let limit = ServeConfiguration.defaultMaxBodyBytes
            let event = String(Fixtures.jobCompleted().dropLast()) + #","note":""#
            let body = event + String(repeating: "x", count: limit - event.utf8.count - 2) + #""}"#
            #expect(body.utf8.count == limit)
            let (status, text) = try await client.deliver(body)
            #expect(status == .ok, "\(text)")
            #expect(try reader.count("events") == 1)
        }
    }

    /// Load balancers probe with HEAD: /healthz and /metrics answer it as they answer GET, without a body.
    @Test(arguments: transports)
    func headIsAnsweredWhereGetIs(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, _) async throws in
            for path in ["/healthz", "/metrics"] {
                let (status, type, body) = try await client.execute(uri: path, method: .head) {
                    ($0.status, $0.headers[.contentType], $0.body.readableBytes)
                }
                #expect(status == .ok, "\(path)")
                #expect(type != nil, "\(path)")
                #expect(body == 0, "\(path)")
            }
            let (status, allow) = try await client.execute(uri: "/healthz", method: .delete) { ($0.status, $0.headers[.allow]) }
            #expect(status == .methodNotAllowed && allow == "GET, HEAD")
        }
    }

    /// README's HTTP table shows each error's body; the server answers exactly that.
    @Test func errorBodiesAreThoseREADMEShows() async throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md"),
            encoding: .utf8
        )
        let documented = Dictionary(
            uniqueKeysWithValues: [401, 405].map { status in
                (
                    status,
                    readme.split(separator: "\n").first { $0.hasPrefix("| \(status) | `") }
                        .flatMap { $0.split(separator: "`").dropFirst().first }.map(String.init)
                )
            }
        )
        try await withServer(try testConfiguration()) { (client, _) async throws in
            let forged: HTTPFields = [HTTPField.Name("circleci-signature")!: "v1=00"]
            #expect(try await client.deliver(Fixtures.ping, headers: forged).1 == documented[401]!)
            let notAllowed = try await client.execute(uri: "/webhooks/circleci", method: .get) { String(buffer: $0.body) }
            #expect(notAllowed == documented[405]!)
        }
    }

    @Test(arguments: transports)
    func otherMethodsAre405(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, _) async throws in
            for method: HTTPRequest.Method in [.get, .put, .delete, .patch] {
                let (status, allow) = try await client.execute(uri: "/webhooks/circleci", method: method) { ($0.status, $0.headers[.allow]) }
                #expect(status == .methodNotAllowed)
                #expect(allow == "POST")
            }
            #expect(try await client.execute(uri: "/healthz", method: .post) { $0.status } == .methodNotAllowed)
            #expect(try await client.execute(uri: "/nowhere", method: .get) { $0.status } == .notFound)
        }
    }

    @Test(arguments: transports)
    func healthzAnswersWhileTheDatabaseAnswers(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, _) async throws in
            let (status, body) = try await client.execute(uri: "/healthz", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(status == .ok)
            #expect(body == #"{"status":"ok"}"#)
        }
    }

    /// Through the routes: once the archive stops answering, /healthz turns 503 within its
    /// one-second cache, and deliveries get 503 (retry later), not a crash.
    @Test func healthzAnd503OnceTheArchiveStopsAnswering() async throws {
        let configuration = try testConfiguration()
        let store = try ArchiveStore(path: configuration.databasePath)
        let router = buildRouter(store: store, metrics: ArchiveMetrics(), configuration: configuration, logger: logger)
        try await Application(router: router).test(.router) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)
            try store.close()
            try await Task.sleep(for: .milliseconds(1100))
            let (status, body) = try await client.execute(uri: "/healthz", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(status == .serviceUnavailable && body == #"{"status":"unavailable"}"#)
            #expect(try await client.deliver(Fixtures.jobCompleted()).0 == .serviceUnavailable)
            let scrape = try await client.scrape()
            #expect(scrape[#"circle_archive_deliveries_total{type="job-completed",outcome="unavailable"}"#] == 1)
        }
    }

    @Test func unsignedModeAcceptsWithoutSignature() async throws {
        try await withServer(
            try testConfiguration {
                $0.secrets = []
                $0.allowUnsigned = true
            }
        ) { (client, reader) async throws in
            #expect(try await client.deliver(Fixtures.ping, headers: [:]).0 == .ok)
            #expect(try reader.count("events") == 1)
        }
    }

    @Test func refusesToBuildWithoutASecret() async throws {
        await #expect(throws: ConfigurationError.self) {
            _ = try await buildApplication(try testConfiguration { $0.secrets = [] }, logger: logger)
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await buildApplication(try testConfiguration { $0.allowUnsigned = true }, logger: logger)
        }
    }

    /// Damaged but signed payloads are answered 200 or 400, never 5xx, over the router and over HTTP.
    @Test(arguments: transports)
    func damagedSignedPayloadsAreNeverAServerError(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration(), transport) { (client, reader) async throws in
            var mutator = PayloadMutator(seed: 7)
            var statuses: [Int: Int] = [:]
            for _ in 0..<150 {
                let body = mutator.next()
                let headers: HTTPFields = [HTTPField.Name("circleci-signature")!: signature(for: body, secret: secret)]
                let status = try await client.execute(uri: "/webhooks/circleci", method: .post, headers: headers, body: ByteBuffer(bytes: body)) {
                    $0.status
                }
                statuses[status.code, default: 0] += 1
            }
            #expect(Set(statuses.keys).isSubset(of: [200, 400]), "\(statuses)")
            #expect(try reader.count("events") + reader.count("rejected_deliveries") > 0)
        }
    }

    @Test func aLockedDatabaseAnswers503AndRecovers() async throws {
        let configuration = try testConfiguration { $0.busyTimeout = 0.2 }
        try await withServer(configuration) { (client, reader) async throws in
            let lock = try await blockingWork { try holdWriteLock(on: configuration.databasePath, seconds: 6) }
            let (status, text) = try await client.deliver(Fixtures.jobCompleted())
            #expect(status == .serviceUnavailable)
            #expect(text.contains("retry"))
            try await blockingWork { lock.waitUntilExit() }
            #expect(try await client.deliver(Fixtures.jobCompleted()).0 == .ok)
            #expect(try reader.count("events") == 1)
        }
    }
}

/// Faults of the disk under a running server: 503 while it lasts, nothing stored is damaged,
/// and ingest resumes by itself once it clears.
@Suite struct DiskFaultTests {
    @Test(.enabled(if: SmallFilesystem.isAvailable, "mounting a tmpfs needs root"))
    func aFullDiskAnswers503AndIngestResumesOnceSpaceIsFreed() async throws {
        let disk = try SmallFilesystem(megabytes: 8)
        defer { disk.unmount() }
        let configuration = try testConfiguration { $0.databasePath = disk.url.appendingPathComponent("archive.sqlite").path }
        try await withServer(configuration) { (client, reader) async throws in
            var acknowledged = 0
            for n in 0..<5 {
                #expect(try await client.deliver(Fixtures.jobCompleted(id: "before-\(n)", jobID: "job-before-\(n)")).0 == .ok)
                acknowledged += 1
            }
            try disk.fill()
            // Events of about 100 KB each must grow the WAL, which needs blocks the disk no longer has.
            let large = String(repeating: "x", count: 100_000)
            var refusal: (HTTPResponse.Status, String)?
            for n in 0..<100 {
                let answer = try await client.deliver(Fixtures.jobCompleted(id: "full-\(n)", jobID: "job-full-\(n)", name: large))
                guard answer.0 == .ok else {
                    refusal = answer
                    break
                }
                acknowledged += 1
            }
            #expect(refusal?.0 == .serviceUnavailable)
            #expect(refusal?.1.contains("retry later") == true)
            // Still full: still refused, and the server keeps answering.
            #expect(try await client.deliver(Fixtures.jobCompleted(id: "still-full", jobID: "job-still-full", name: large)).0 == .serviceUnavailable)
            #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)
            try disk.free()
            #expect(try await client.deliver(Fixtures.jobCompleted(id: "after", jobID: "job-after", name: large)).0 == .ok)
            #expect(try await client.deliver(Fixtures.jobCompleted(id: "still-full", jobID: "job-still-full", name: large)).1.contains("stored"))
            #expect(try reader.count("events") == Int64(acknowledged + 2))
            #expect(try reader.count("jobs") == Int64(acknowledged + 2))
            #expect(try reader.texts("PRAGMA integrity_check") == ["ok"])
        }
    }
}
