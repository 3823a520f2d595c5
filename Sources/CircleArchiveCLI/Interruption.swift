import ArgumentParser
import Foundation
import Synchronization
import UnixSignals

/// Ctrl-C for the commands that run a while (`import`, `backfill`), through task cancellation.
///
/// The first SIGINT cancels `operation`: every `await` in it sees the cancellation (`import`
/// checks between lines and finishes the batch it started; `backfill`'s requests and waits end at
/// once). A second SIGINT exits at once with 130, for an impatient user. `operation` is always
/// awaited to its end, so nothing it started outlives the command.
enum Interruptible {
    struct Outcome<Value: Sendable>: Sendable {
        let result: Result<Value, any Error>
        let interrupted: Bool
    }

    /// `operation` is sent to the task that runs it, so it may hold what only that task touches
    /// (an import's readers). That task is a handle the listener can cancel, and is awaited here
    /// whatever happens.
    static func run<Value: Sendable>(_ operation: sending @escaping () async throws -> Value) async -> Outcome<Value> {
        let signals = await UnixSignalsSequence(trapping: .sigint)
        let interrupted = Flag()
        let work = Task { try await operation() }
        let result = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals {
                    if interrupted.raise() { exit(ExitStatus.interrupted.rawValue) }
                    work.cancel()
                }
            }
            let result = await withTaskCancellationHandler {
                await work.result
            } onCancel: {
                work.cancel()
            }
            group.cancelAll()
            return result
        }
        return Outcome(result: result, interrupted: interrupted.isRaised)
    }

    private final class Flag: Sendable {
        private let value = Atomic<Bool>(false)

        /// Raises the flag; true when it was raised already.
        func raise() -> Bool { value.exchange(true, ordering: .relaxed) }

        var isRaised: Bool { value.load(ordering: .relaxed) }
    }
}
