import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A response read off a raw socket.
public struct RawResponse: Sendable {
    public var status: Int
    public var head: String
    public var body: String
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Sends `request` bytes as they are to 127.0.0.1:`port` and reads until the server closes the
/// connection or `timeout` passes. For requests a normal client will not send: chunked bodies,
/// lies in Content-Length, repeated headers, half-sent requests. With `pace`, one byte is sent
/// per interval from another thread while the answer is awaited, like a slow-loris client.
public func rawHTTPExchange(port: Int, request: [UInt8], timeout: TimeInterval = 10, pace: TimeInterval? = nil) throws -> RawResponse {
    let descriptor = try openRawConnection(port: port, timeout: timeout)
    defer { close(descriptor) }
    if let pace {
        let answered = Flag()
        let sender = DispatchGroup()
        sender.enter()
        Thread {
            for byte in request where !answered.isSet {
                if [byte].withUnsafeBytes({ send(descriptor, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }) <= 0 { break }
                Thread.sleep(forTimeInterval: pace)
            }
            sender.leave()
        }.start()
        defer {
            // The socket is closed only once the sending thread has stopped using it.
            answered.set()
            sender.wait()
        }
        return try readResponse(descriptor)
    }
    var sent = 0
    while sent < request.count {
        let result = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The server may answer and close before reading everything (a 413); stop sending then.
        if result <= 0 { break }
        sent += result
    }
    return try readResponse(descriptor)
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A `POST /webhooks/circleci` carrying `body` signed with `secret` as CircleCI signs it, on a
/// connection the server closes after answering.
public func signedDeliveryRequest(_ body: [UInt8], secret: String) -> [UInt8] {
    let head =
        "POST /webhooks/circleci HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        + "Content-Length: \(body.count)\r\ncircleci-signature: \(signature(for: body, secret: secret))\r\n\r\n"
    return Array(head.utf8) + body
}

/// A connected TCP socket to 127.0.0.1:`port` whose reads give up after `timeout`. The caller closes it.
public func openRawConnection(port: Int, timeout: TimeInterval = 10) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw RawHTTPError(description: "socket: \(errno)") }
    var timeoutValue = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - timeout.rounded(.down)) * 1_000_000))
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeoutValue, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(descriptor)
        throw RawHTTPError(description: "connect: \(errno)")
    }
    return descriptor
}

/// Reads one response, until it is complete or the server closes the connection.
private func readResponse(_ descriptor: Int32) throws -> RawResponse {
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        received.append(contentsOf: chunk[0..<count])
        if let response = parseComplete(received) { return response }
    }
    guard let response = parseComplete(received, atEOF: true) else {
        throw RawHTTPError(description: "no complete response (\(received.count) bytes)")
    }
    return response
}

/// A complete response in `bytes`: headers plus a Content-Length body, or whatever came before EOF.
private func parseComplete(_ bytes: [UInt8], atEOF: Bool = false) -> RawResponse? {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    let head = String(text[..<split.lowerBound])
    let body = String(text[split.upperBound...])
    let statusLine = head.split(separator: "\r\n").first ?? ""
    guard let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
    let length = head.split(separator: "\r\n").dropFirst().compactMap { line -> Int? in
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
        return Int(parts[1].trimmingCharacters(in: .whitespaces))
    }.first
    if let length, body.utf8.count >= length || atEOF { return RawResponse(status: status, head: head, body: body) }
    return atEOF ? RawResponse(status: status, head: head, body: body) : nil
}

/// Runs blocking work (socket I/O, waiting for a process) on a thread of its own. Blocking a
/// thread of Swift's cooperative pool instead could starve the in-process server under test:
/// on a 2-core machine that pool has two threads.
public func blockingWork<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// A port nothing listens on right now (the kernel's next ephemeral port).
public func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else { throw RawHTTPError(description: "cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
