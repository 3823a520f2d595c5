import ArchiveStore
import Foundation
import Synchronization

/// A progress line on stderr, rewritten in place at most four times a second, for commands that
/// run a while (`import`, `backfill`). Safe to call from concurrent tasks.
final class ProgressLine: Sendable {
    private let enabled: Bool
    private let state = Mutex<(lastShown: ContinuousClock.Instant, shown: Bool)>((.now, false))

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// The line rewrites itself with a carriage return and an erase-line sequence: only on a
    /// terminal that understands it, never in a log file or a pipe.
    static func onTerminal() -> ProgressLine {
        ProgressLine(enabled: isatty(STDERR_FILENO) == 1 && processEnvironment["TERM"] != "dumb")
    }

    /// `line` is evaluated only when it is shown.
    func update(_ line: @autoclosure () -> String) {
        guard enabled else { return }
        state.withLock { state in
            guard ContinuousClock.now - state.lastShown > .milliseconds(250) else { return }
            state = (.now, true)
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line())".utf8))
        }
    }

    /// Prints a message on a line of its own; the progress line comes back at the next update.
    func message(_ text: String) {
        state.withLock { state in
            if state.shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            state.shown = false
            printMessage(text)
        }
    }

    func clear() {
        state.withLock { state in
            guard state.shown else { return }
            state.shown = false
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
    }
}

extension ArchiveStore {
    /// `refreshSummaries` with its progress on `progress`: what `import`, `backfill` and
    /// `migrate` run at their end, so that reports over what they stored read summaries.
    @discardableResult
    func refreshSummaries(showing progress: ProgressLine) async throws(StoreError) -> SummaryRefresh {
        try await refreshSummaries { done, total in progress.update("summarizing runs for reports: day \(done) of \(total)") }
    }
}
