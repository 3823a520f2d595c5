import Synchronization

/// Group commit: deliveries submitted while a transaction is committing wait for the next one,
/// which takes all of them at once. A lone delivery is committed at once (no added latency);
/// under load, batches grow by themselves to what arrives during one commit, so the fsync of a
/// durable commit is shared by every delivery in the batch. Each caller still hears back only
/// after its own batch committed, and a delivery that fails does so alone (`ArchiveStore.commit`).
final class GroupCommit: Sendable {
    typealias Waiter = (delivery: PreparedDelivery, continuation: CheckedContinuation<Result<DeliveryOutcome, StoreError>, Never>)

    private struct State {
        var waiting: [Waiter] = []
        var committing = false
    }

    private let state = Mutex(State())
    /// The most deliveries one transaction takes, so one batch cannot hold the writer for long.
    let maximumBatch: Int

    init(maximumBatch: Int = 1024) {
        self.maximumBatch = maximumBatch
    }

    func submit(_ delivery: PreparedDelivery, to store: ArchiveStore) async -> Result<DeliveryOutcome, StoreError> {
        await withCheckedContinuation { continuation in
            let startCommitting = state.withLock { state in
                state.waiting.append((delivery, continuation))
                guard !state.committing else { return false }
                state.committing = true
                return true
            }
            if startCommitting {
                Task { await commitWhileWaiting(to: store) }
            }
        }
    }

    /// Commits batches until nobody is waiting; only one of these runs at a time.
    private func commitWhileWaiting(to store: ArchiveStore) async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                guard !state.waiting.isEmpty else {
                    state.committing = false
                    return []
                }
                let count = min(maximumBatch, state.waiting.count)
                let batch = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                return batch
            }
            guard !batch.isEmpty else { return }
            let results = await store.commit(batch.map(\.delivery))
            for (waiter, result) in zip(batch, results) {
                waiter.continuation.resume(returning: result)
            }
        }
    }
}
