import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The real server on a loopback port with a real SQLite file.
@Suite struct LiveServerTests {
    static func post(port: Int, body: [UInt8], headers: [String] = [], chunked: Bool = false) throws -> RawResponse {
        var head = "POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        for header in headers { head += header + "\r\n" }
        var request: [UInt8]
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            request = Array(head.utf8)
            var offset = 0
            while offset < body.count {
                let piece = body[offset..<min(offset + 1000, body.count)]
                request += Array((String(piece.count, radix: 16) + "\r\n").utf8) + piece + Array("\r\n".utf8)
                offset += piece.count
            }
            request += Array("0\r\n\r\n".utf8)
        } else {
            head += "Content-Length: \(body.count)\r\n\r\n"
            request = Array(head.utf8) + body
        }
        return try rawHTTPExchange(port: port, request: request)
    }

    @Test func concurrentSendersOfTheSameIdsStoreEachExactlyOnce() async throws {
        let configuration = try testConfiguration()
        try await withServer(configuration, .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            let bodies = (0..<8).map { index in
                Array(Fixtures.jobCompleted(id: "concurrent-\(index)", jobID: "job-\(index)", number: index).utf8)
            }
            let senders = 32
            let results = Results()
            let start = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            for sender in 0..<senders {
                done.enter()
                Thread {
                    start.wait()
                    // Each sender delivers every id, starting at a different one.
                    for step in 0..<bodies.count {
                        let body = bodies[(sender + step) % bodies.count]
                        let header = "circleci-signature: " + signature(for: body, secret: secret)
                        do {
                            results.append(try Self.post(port: port, body: body, headers: [header]))
                        } catch {
                            results.fail("\(error)")
                        }
                    }
                    done.leave()
                }.start()
            }
            for _ in 0..<senders { start.signal() }
            try await blockingWork { done.wait() }
            let (responses, failures) = results.snapshot()
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            #expect(responses.count == senders * bodies.count)
            #expect(responses.allSatisfy { $0.status == 200 }, "\(Set(responses.map(\.status)))")
            for index in 0..<bodies.count {
                let mine = responses.filter { $0.body.contains("\"concurrent-\(index)\"") }
                #expect(mine.filter { $0.body.contains("\"stored\"") }.count == 1, "id concurrent-\(index)")
                #expect(mine.filter { $0.body.contains("\"duplicate\"") }.count == senders - 1)
            }
            #expect(try reader.count("events") == Int64(bodies.count))
            #expect(try reader.count("jobs") == Int64(bodies.count))
        }
    }

    @Test func chunkedBodiesAreLimitedWhileTheyAreRead() async throws {
        let limit = 8192
        let configuration = try testConfiguration { $0.maxBodyBytes = limit }
        try await withServer(configuration, .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            let small = Array(Fixtures.jobCompleted().utf8)
            let ok = try await blockingWork {
                try Self.post(port: port, body: small, headers: ["circleci-signature: " + signature(for: small, secret: secret)], chunked: true)
            }
            #expect(ok.status == 200)
            #expect(ok.body.contains("stored"))
            let big = Array((Fixtures.ping + String(repeating: " ", count: 3 * limit)).utf8)
            let refused = try await blockingWork {
                try Self.post(port: port, body: big, headers: ["circleci-signature: " + signature(for: big, secret: secret)], chunked: true)
            }
            #expect(refused.status == 413)
            #expect(try reader.count("events") == 1)
        }
    }

    @Test func anAnnouncedLengthOverTheLimitIsRefusedBeforeTheBodyIsRead() async throws {
        try await withServer(try testConfiguration { $0.maxBodyBytes = 1024 }, .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            // Announce 10 MB, send only the head: the answer must come without the body.
            let head = "POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n"
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: Array(head.utf8), timeout: 5) }
            #expect(response.status == 413)
            #expect(try reader.count("rejected_deliveries") == 0)
        }
    }
}

/// Limits on what one client can hold: time, header bytes, connections.
@Suite struct ConnectionLimitTests {
    /// A short request timeout (it must exceed the busy timeout), yet long enough for a loaded
    /// machine to answer a normal request within it.
    static func configuration(_ change: (inout ServeConfiguration) -> Void = { _ in }) throws -> ServeConfiguration {
        try testConfiguration {
            $0.busyTimeout = 0.1
            $0.requestTimeout = 2.5
            change(&$0)
        }
    }

    @Test(arguments: [
        // The head never completes.
        "POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\ncircleci-signature: v1=",
        // The body never completes.
        "POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{\"id\":",
    ])
    func aRequestNotReceivedInTimeGets408AndIsDisconnected(partial: String) async throws {
        try await withServer(try Self.configuration(), .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            let started = Date()
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: Array(partial.utf8), timeout: 10) }
            let elapsed = Date().timeIntervalSince(started)
            #expect(response.status == 408)
            #expect(response.head.lowercased().contains("connection: close"))
            #expect(elapsed >= 2.45 && elapsed < 8, "\(elapsed)")
            // The server still serves others.
            #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)
            #expect(try reader.count("events") + reader.count("rejected_deliveries") == 0)
        }
    }

    @Test func aSlowLorisSendingAByteAtATimeIsCutOff() async throws {
        try await withServer(try Self.configuration(), .ahc(.http)) { (client, _) async throws in
            let port = try #require(client.port)
            let body = Array(Fixtures.ping.utf8)
            let request = Array("POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
            let started = Date()
            // One byte every 50 ms would take about 20 s to send; the server answers after 2.5 s.
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: request, timeout: 10, pace: 0.05) }
            #expect(response.status == 408)
            #expect(Date().timeIntervalSince(started) < 8)
        }
    }

    @Test func aDeliveryTakingLessThanTheTimeoutIsServed() async throws {
        try await withServer(try Self.configuration { $0.requestTimeout = 5 }, .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            let body = Array(Fixtures.ping.utf8)
            let request = signedDeliveryRequest(body, secret: secret)
            // Trickled over about a second.
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: request, timeout: 5, pace: 1.0 / Double(request.count)) }
            #expect(response.status == 200)
            #expect(try reader.count("events") == 1)
        }
    }

    @Test func oversizedHeadersAre400AndWriteNothing() async throws {
        try await withServer(try Self.configuration(), .ahc(.http)) { (client, reader) async throws in
            let port = try #require(client.port)
            let body = Array(Fixtures.ping.utf8)
            let padding = "x-padding: " + String(repeating: "a", count: ServeConfiguration.maxHeaderBytes) + "\r\n"
            let request =
                Array("POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\n\(padding)Content-Length: \(body.count)\r\n".utf8)
                + Array("circleci-signature: \(signature(for: body, secret: secret))\r\n\r\n".utf8) + body
            let response = try await blockingWork { try rawHTTPExchange(port: port, request: request, timeout: 5) }
            #expect(response.status == 400)
            #expect(try reader.count("events") == 0)
        }
    }
}

/// Responses gathered from many threads.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var responses: [RawResponse] = []
    private var failures: [String] = []

    func append(_ response: RawResponse) {
        lock.withLock { responses.append(response) }
    }

    func fail(_ message: String) {
        lock.withLock { failures.append(message) }
    }

    func snapshot() -> ([RawResponse], [String]) {
        lock.withLock { (responses, failures) }
    }
}
