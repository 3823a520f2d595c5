import ArchiveModel
import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

/// Sends the ping fixture signed with `secret` to a server starting on `port`, retrying for up to
/// 30 s until it listens; returns the status. Blocks: call it through `blockingWork`.
func deliverPingOnceListening(port: Int, signedWith secret: String) throws -> Int {
    let deadline = Date().addingTimeInterval(30)
    while true {
        do { return try rawHTTPExchange(port: port, request: signedDeliveryRequest(Array(Fixtures.ping.utf8), secret: secret)).status } catch {
            guard Date() < deadline else { throw error }
            usleep(50_000)
        }
    }
}

/// `circle-archive serve` as a child process, with its stderr collected.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var log = ""
    private let logDone = DispatchSemaphore(value: 0)

    /// `circle-archive COMMAND --port 0 ARGUMENTS…`: `serve`, or `dashboard`.
    init(arguments: [String], environment: [String: String], command: String = "serve") throws {
        process.executableURL = binary
        process.arguments = [command, "--port", "0"] + arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        Thread { [self] in
            let handle = errors.fileHandleForReading
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                lock.withLock { log += String(decoding: data, as: UTF8.self) }
            }
            logDone.signal()
        }.start()
    }

    var output: String { lock.withLock { log } }

    /// The port from the "listening on 127.0.0.1:PORT" log line.
    func waitForPort(timeout: TimeInterval = 30) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, process.isRunning {
            if let range = output.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(output[range].split(separator: ":").last ?? "")
            {
                return port
            }
            usleep(20_000)
        }
        throw RawHTTPError(description: "server did not start: \(output)")
    }

    /// `serve` on `path` (default: a fresh archive in its own directory) with one secret, once it listens.
    static func started(_ arguments: [String] = [], path: String? = nil, secret: String = "s") async throws -> (ServerProcess, port: Int) {
        let path = try path ?? makeTemporaryDirectory().appendingPathComponent("a.sqlite").path
        let server = try ServerProcess(arguments: ["--db", path] + arguments, environment: ["CIRCLE_ARCHIVE_SECRETS": secret])
        return (server, try await blockingWork { try server.waitForPort() })
    }

    /// Sends `signal` and waits for the exit, returning the status (nil on timeout).
    func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        logDone.wait()
        return process.terminationStatus
    }
}

@Suite struct ServeProcessTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func serveArchivesDeliveriesAndStopsCleanlyOnASignal(signal: Int32) async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("served.sqlite").path
        let secretValue = "rotate-me-\(UUID().uuidString)"
        let server = try ServerProcess(arguments: ["--db", path], environment: ["CIRCLE_ARCHIVE_SECRETS": "old-secret, \(secretValue)"])
        let port = try await blockingWork { try server.waitForPort() }

        for body in [Fixtures.workflowCompleted(), Fixtures.jobCompleted(), Fixtures.ping] {
            let bytes = Array(body.utf8)
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: signedDeliveryRequest(bytes, secret: secretValue)) }
            #expect(response.status == 200)
            #expect(response.body.contains("\"stored\""))
        }
        let health = try await blockingWork {
            try rawHTTPExchange(port: port, request: Array("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        }
        #expect(health.status == 200)

        #expect(try await blockingWork { server.stop(signal: signal) } == 0)
        #expect(server.output.contains("archive closed"))
        #expect(!server.output.contains(secretValue), "secrets never reach the log")
        #expect(!server.output.contains("old-secret"))

        let query = try await run(["query", "--db", path, "-f", "csv", "SELECT type FROM events ORDER BY type"])
        #expect(query.stdout == "type\r\njob-completed\r\nping\r\nworkflow-completed\r\n")
    }

    @Test func secretsCanComeFromAFile() async throws {
        let directory = try makeTemporaryDirectory()
        let secretFile = directory.appendingPathComponent("secrets")
        try "# CircleCI webhook secrets\n\nfrom-file\n".write(to: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile.path, 0o644)
        let server = try ServerProcess(
            arguments: ["--db", directory.appendingPathComponent("a.sqlite").path, "--secret-file", secretFile.path],
            environment: [:]
        )
        let port = try await blockingWork { try server.waitForPort() }
        let bytes = Array(Fixtures.ping.utf8)
        for (secretValue, status) in [("from-file", 200), ("# CircleCI webhook secrets", 401)] {
            #expect(
                try await blockingWork { try rawHTTPExchange(port: port, request: signedDeliveryRequest(bytes, secret: secretValue)) }.status
                    == status
            )
        }
        #expect(try await blockingWork { server.stop() } == 0)
        #expect(server.output.contains("Warning: secret file \(secretFile.path) can be read by other users (mode 644)"))
        #expect(!server.output.contains("from-file"))
    }

    /// The cap is checked on the real binary: Hummingbird's test harness rebuilds the server
    /// configuration without it.
    @Test func connectionsOverTheCapWaitUntilOneCloses() async throws {
        let (server, port) = try await ServerProcess.started(["--max-connections", "2"])
        let held = try (0..<2).map { _ in try openRawConnection(port: port) }
        try await Task.sleep(for: .milliseconds(200))
        let healthz = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        // A third connection is not served while two are open...
        await #expect(throws: RawHTTPError.self) {
            try await blockingWork { try rawHTTPExchange(port: port, request: healthz, timeout: 0.5) }
        }
        // ...and is served once one of them closes.
        async let third = blockingWork { try rawHTTPExchange(port: port, request: healthz, timeout: 5) }
        try await Task.sleep(for: .milliseconds(200))
        close(held[0])
        #expect(try await third.status == 200)
        close(held[1])
        #expect(try await blockingWork { server.stop() } == 0)
    }

    @Test func logLevelFiltersTheLog() async throws {
        let directory = try makeTemporaryDirectory()
        let port = try freePort()
        let server = try ServerProcess(
            arguments: ["--db", directory.appendingPathComponent("a.sqlite").path, "--log-level", "warning", "--port", "\(port)"],
            environment: ["CIRCLE_ARCHIVE_SECRETS": "s"]
        )
        // The server announces nothing at this level: the first delivery retries until it listens.
        #expect(try await blockingWork { try deliverPingOnceListening(port: port, signedWith: "s") } == 200)
        #expect(try await blockingWork { try deliverPingOnceListening(port: port, signedWith: "wrong") } == 401)
        #expect(try await blockingWork { server.stop() } == 0)
        // Warnings are logged, info lines are not.
        #expect(server.output.contains("delivery unauthorized"))
        #expect(!server.output.contains("delivery stored"))
        #expect(!server.output.contains("listening on"))
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let directory = try makeTemporaryDirectory()
        let port = try freePort()
        let server = try ServerProcess(
            arguments: ["--db", directory.appendingPathComponent("a.sqlite").path, "--log-format", "json", "--port", "\(port)"],
            environment: ["CIRCLE_ARCHIVE_SECRETS": "s"]
        )
        #expect(try await blockingWork { try deliverPingOnceListening(port: port, signedWith: "s") } == 200)
        #expect(try await blockingWork { try deliverPingOnceListening(port: port, signedWith: "wrong") } == 401)
        #expect(try await blockingWork { server.stop() } == 0)
        let lines = try server.output.split(separator: "\n").map { try JSONValue(parsing: Array($0.utf8)) }
        #expect(lines.allSatisfy { $0["time"]?.string != nil && $0["level"]?.string != nil && $0["message"]?.string != nil })
        let stored = lines.first { $0["message"]?.string == "delivery stored" }
        #expect(stored?["level"]?.string == "info")
        #expect(stored?["id"]?.string == "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c")
        // A number with at most three decimals, not a string, not 4.787443000000001.
        switch stored?["latency_ms"] {
        case .double(let milliseconds): #expect(abs(milliseconds * 1000 - (milliseconds * 1000).rounded()) < 1e-6, "\(milliseconds)")
        case .integer: break
        default: Issue.record("latency_ms is not a number: \(String(describing: stored?["latency_ms"]))")
        }
        #expect(stored?["outcome"]?.string == "stored" && stored?["type"]?.string == "ping")
        let unauthorized = lines.first { $0["message"]?.string?.hasPrefix("delivery unauthorized") == true }
        #expect(unauthorized?["level"]?.string == "warning")
        // Which failure it was, for the operator; the sender got the same generic 401.
        #expect(unauthorized?["reason"]?.string?.contains("matches none of the configured secrets") == true, "\(String(describing: unauthorized))")
        // The warning names the sender, so a misconfigured or hostile one can be found.
        #expect(unauthorized?["peer"]?.string?.hasPrefix("127.0.0.1:") == true, "\(String(describing: unauthorized))")
        #expect(stored?["peer"] == nil, "info lines stay short")
    }

    /// A port in use says so and how to choose another, and `serving` is never logged for it.
    @Test func aPortInUseIsNamedWithWhatToDo() async throws {
        let (first, port) = try await ServerProcess.started()
        let second = try await run(
            ["serve", "--db", try makeTemporaryDirectory().appendingPathComponent("b.sqlite").path, "--port", "\(port)"],
            environment: ["CIRCLE_ARCHIVE_SECRETS": "s"]
        )
        #expect(second.status == 1)
        #expect(second.stderr.contains("Error: 127.0.0.1:\(port) is in use; choose another with --port or CIRCLE_ARCHIVE_PORT"), "\(second.stderr)")
        #expect(!second.stderr.contains("serving") && !second.stderr.contains("errno"), "\(second.stderr)")
        #expect(first.output.contains("serving"), "the one that listens says so")
        #expect(try await blockingWork { first.stop() } == 0)
    }

    /// --allow-unsigned opens the route to anyone: said at every start, as a warning.
    @Test func unsignedModeWarnsAtEveryStart() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("a.sqlite").path
        for _ in 0..<2 {
            let server = try ServerProcess(arguments: ["--db", path, "--allow-unsigned"], environment: [:])
            _ = try await blockingWork { try server.waitForPort() }
            #expect(try await blockingWork { server.stop() } == 0)
            #expect(server.output.contains("warning"), "\(server.output)")
            #expect(server.output.contains("--allow-unsigned: POST /webhooks/circleci accepts every delivery without checking a signature"))
        }
    }

    @Test func shutdownIsNotHeldUpBySlowSenders() async throws {
        let (server, port) = try await ServerProcess.started(["--request-timeout", "6"])
        // One connection idle, one in the middle of a body that will never finish.
        let idle = try openRawConnection(port: port)
        defer { close(idle) }
        let slow = try openRawConnection(port: port)
        defer { close(slow) }
        let partial = Array("POST /webhooks/circleci HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{".utf8)
        _ = partial.withUnsafeBytes { send(slow, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        try await Task.sleep(for: .milliseconds(200))
        let started = Date()
        #expect(try await blockingWork { server.stop(signal: SIGTERM, timeout: 20) } == 0)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 9, "shutdown took \(elapsed) s with a request timeout of 6 s")
    }
}
