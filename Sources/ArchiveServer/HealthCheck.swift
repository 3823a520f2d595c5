import ArchiveStore
import Synchronization

/// `GET /healthz`: whether the archive answers a query, from a check at most `maxAge` old.
///
/// Monitors poll every few seconds and get a fresh check each time; a flood of probes (a load
/// balancer, a benchmark) costs one database read per `maxAge` instead of one per request, so the
/// endpoint also measures what the HTTP layer alone can do.
final class HealthCheck: Sendable {
    private let reader: ArchiveReader
    private let maxAge: Duration
    private let last = Mutex<(at: ContinuousClock.Instant, error: StoreError?)?>(nil)

    init(reader: ArchiveReader, maxAge: Duration = .seconds(1)) {
        self.reader = reader
        self.maxAge = maxAge
    }

    /// nil when healthy, else what failed.
    func check() async -> StoreError? {
        let now = ContinuousClock.now
        if let last = last.withLock({ $0 }), now - last.at < maxAge { return last.error }
        var error: StoreError?
        do { try await reader.healthCheck() } catch let failure { error = failure }
        last.withLock { $0 = (now, error) }
        return error
    }
}
