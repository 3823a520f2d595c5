import ArchiveServer
import ArchiveStore
import ArgumentParser
import Foundation

/// Exit codes, documented in README: 0 success, 1 failure, 2 usage or configuration error, 130
/// stopped by Ctrl-C (128 + SIGINT, as shells report it).
enum ExitStatus {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    static let interrupted = ExitCode(130)
}

/// CLI-level failures that are neither a store nor a configuration error.
enum CLIError: Error, CustomStringConvertible {
    /// Writing output or serving failed.
    case output(String)
    /// The input given cannot be used.
    case input(String)

    var description: String {
        switch self {
        case .output(let message), .input(let message): return message
        }
    }
}

/// Maps any error to its exit code, once: prints `Error: <message>` on stderr and returns the
/// `ExitCode` to throw. Configuration mistakes exit 2; everything else that fails exits 1.
func reportFailure(_ error: any Error) -> ExitCode {
    switch error {
    case let error as ExitCode:
        return error
    case let error as ConfigurationError:
        printError(error.message)
        return ExitStatus.usage
    case let error as StoreError:
        printError(error.message)
        return ExitStatus.failure
    case let error as CLIError:
        printError(error.description)
        return ExitStatus.failure
    default:
        printError("\(error)")
        return ExitStatus.failure
    }
}

/// Writes `Error: message` to stderr.
func printError(_ message: String) {
    printMessage("Error: \(message)")
}

/// Writes a line to stderr, where messages and progress go; stdout is for data.
func printMessage(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
