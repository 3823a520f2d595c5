import ArchiveModel
import ArchiveServer
import ArgumentParser
import Foundation

/// Exit codes, documented in README: 0 success, 1 failure, 2 usage or configuration error, 130
/// stopped by Ctrl-C (128 + SIGINT, as shells report it).
enum ExitStatus {
    static let failure = ExitCode(1)
    static let usage = ExitCode(2)
    static let interrupted = ExitCode(130)

    /// The one mapping of circle-archive's errors to exit codes: a configuration the user must fix
    /// is a usage error; anything else that stops a command is a failure.
    static func code(for error: any ArchiveError) -> ExitCode {
        error is ConfigurationError ? usage : failure
    }
}

/// What the command line itself cannot do: an input it cannot use, an output it cannot write.
struct CLIError: ArchiveError {
    enum Code: String, Sendable {
        case input
        case output
    }

    let code: Code
    let message: String

    static func input(_ message: String) -> Self { Self(code: .input, message: message) }
    static func output(_ message: String) -> Self { Self(code: .output, message: message) }
}

/// Writes `Error: message` to stderr.
func printError(_ message: String) {
    printMessage("Error: \(message)")
}

/// Writes a line to stderr, where messages and progress go; stdout is for data.
func printMessage(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
