import ArgumentParser
import Dispatch
import Foundation
import Synchronization

/// Ctrl-C for a command that can stop cleanly between two steps (`import` between lines): the
/// first SIGINT sets `happened`, which the command checks, finishes what it started and says how
/// far it got; a second SIGINT exits at once with 130, for an impatient user.
final class Interruption: Sendable {
    private let flag = Atomic<Bool>(false)
    private nonisolated(unsafe) let source: any DispatchSourceSignal

    private init() {
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    }

    static func onSIGINT() -> Interruption {
        let interruption = Interruption()
        signal(SIGINT, SIG_IGN)
        interruption.source.setEventHandler {
            if interruption.flag.exchange(true, ordering: .relaxed) { exit(ExitStatus.interrupted.rawValue) }
        }
        interruption.source.resume()
        return interruption
    }

    var happened: Bool { flag.load(ordering: .relaxed) }

    /// Restores the default: Ctrl-C ends the process.
    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
