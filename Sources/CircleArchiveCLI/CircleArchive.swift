import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArgumentParser
import Foundation

/// The `circle-archive` command: one binary for the webhook server and the tools that read the archive.
public struct CircleArchive: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "circle-archive",
        abstract: "Archive CircleCI webhook events in SQLite, and query the archive.",
        discussion: """
            Point a CircleCI project webhook at `circle-archive serve`; every event is verified, \
            stored once by its id, and normalized into tables you can query with SQL.

            Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 stopped by Ctrl-C. \
            Data goes to stdout; messages and progress go to stderr.
            """,
        version: "0.1.0",
        subcommands: [
            Serve.self, Migrate.self, Query.self, Report.self, Export.self, Import.self, Backfill.self,
            Enrich.self, Stats.self, Backup.self, DashboardCommand.self,
        ]
    )

    public init() {}

    /// Runs the command line and exits: the one place errors leave the program. Parse errors exit
    /// 2 (swift-argument-parser's own default is 64); circle-archive's errors print their message
    /// and exit with `ExitStatus.code(for:)`.
    public static func main(_ arguments: [String]? = nil) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch let error as any ArchiveError {
            printError(error.message)
            Foundation.exit(ExitStatus.code(for: error).rawValue)
        } catch {
            let code = Self.exitCode(for: error)
            if code == .success {
                // --help, --version and the like: let the parser print them as usual.
                Self.exit(withError: error)
            }
            if code == .validationFailure || error is ValidationError {
                printMessage(Self.fullMessage(for: error))
                Foundation.exit(ExitStatus.usage.rawValue)
            }
            Self.exit(withError: error)
        }
    }
}

/// `--db`, shared by every subcommand.
struct ArchiveOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The SQLite archive file.",
            discussion: "Default: $CIRCLE_ARCHIVE_DB, else \(Self.defaultPath) in the current directory.",
            valueName: "path"
        )
    )
    var db: String?

    /// Every command's archive unless told otherwise: a file in the current directory.
    static let defaultPath = "circle-archive.sqlite"

    /// The archive path: the flag, then `CIRCLE_ARCHIVE_DB`, then the default.
    func databasePath(_ environment: [String: String]) -> String {
        Setting(environment: environment).text(db, "DB", default: Self.defaultPath)
    }
}

/// Where a setting comes from: the flag, else `CIRCLE_ARCHIVE_<NAME>` (when set and not empty),
/// else the default. A variable that does not parse is a configuration error, not ignored.
struct Setting {
    static let prefix = "CIRCLE_ARCHIVE_"
    let environment: [String: String]

    func value<Value: ExpressibleByArgument>(_ flag: Value?, _ name: String, default: Value) throws(ConfigurationError) -> Value {
        if let flag { return flag }
        guard let text = variable(name) else { return `default` }
        guard let value = Value(argument: text) else {
            let valid =
                !Value.allValueStrings.isEmpty
                ? " (valid values: \(Value.allValueStrings.joined(separator: ", ")))"
                : Value.self == Int.self ? " (a whole number)" : Value.self == Double.self ? " (a number)" : ""
            throw ConfigurationError("\(Self.prefix + name) is not a valid value: \(text)\(valid)")
        }
        return value
    }

    /// A text setting, which cannot fail to parse.
    func text(_ flag: String?, _ name: String, default: String) -> String {
        flag ?? variable(name) ?? `default`
    }

    private func variable(_ name: String) -> String? {
        environment[Self.prefix + name].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The process environment, read in one place.
var processEnvironment: [String: String] { ProcessInfo.processInfo.environment }
