import Foundation

/// Senders on threads of their own, each delivering unique signed job-completed events over
/// fresh connections as fast as the server answers, until stopped. It records which ids the
/// server acknowledged as stored, so a test can check that every acknowledged event survived
/// whatever happened to the server meanwhile (a kill, a shutdown, readers).
public final class LoadGenerator: @unchecked Sendable {
    public struct Tally: Sendable {
        /// Ids answered 200 `stored`.
        public var stored: Set<String> = []
        /// Responses by status code.
        public var statuses: [Int: Int] = [:]
        /// Requests that got no response: refused, reset, or closed without an answer.
        public var unanswered = 0
    }

    private let port: Int
    private let secret: String
    private let prefix: String
    private let lock = NSLock()
    private var tally = Tally()
    private var stopping = false
    private let running = DispatchGroup()

    /// Starts `senders` threads; ids are `prefix-sender-n`.
    public init(port: Int, secret: String, senders: Int, prefix: String) {
        self.port = port
        self.secret = secret
        self.prefix = prefix
        for sender in 0..<senders {
            running.enter()
            Thread { [self] in
                send(as: sender)
                running.leave()
            }.start()
        }
    }

    private func send(as sender: Int) {
        var n = 0
        while !lock.withLock({ stopping }) {
            let id = "\(prefix)-\(sender)-\(n)"
            let body = Array(Fixtures.jobCompleted(id: id, jobID: "job-\(id)", number: n).utf8)
            n += 1
            do {
                let response = try rawHTTPExchange(port: port, request: signedDeliveryRequest(body, secret: secret), timeout: 10)
                lock.withLock {
                    tally.statuses[response.status, default: 0] += 1
                    if response.status == 200, response.body.contains(#""status":"stored""#) { tally.stored.insert(id) }
                }
            } catch {
                lock.withLock { tally.unanswered += 1 }
                // The server is down or going down: do not spin.
                usleep(5_000)
            }
        }
    }

    /// What has been answered so far.
    public var snapshot: Tally { lock.withLock { tally } }

    /// Blocks until at least `count` events are stored or `timeout` passes.
    public func waitForStored(_ count: Int, timeout: TimeInterval = 30) {
        let deadline = Date().addingTimeInterval(timeout)
        while snapshot.stored.count < count, Date() < deadline { usleep(5_000) }
    }

    /// Stops every sender after its current request and returns the final tally.
    public func stop() -> Tally {
        lock.withLock { stopping = true }
        running.wait()
        return snapshot
    }
}
