import ArchiveServer
import ArgumentParser
import Foundation
import Testing

@testable import CircleArchiveCLI

/// No Docker engine runs where the project is built, so the Dockerfile is checked here for what
/// can be checked without one: that the command it runs is one this binary accepts and resolves
/// to the container's address and volume, and that its pieces agree with each other.
struct DockerfileTests {
    /// The Dockerfile's instructions, continuation lines joined and comments dropped.
    static let instructions: [(keyword: String, argument: String)] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Dockerfile").standardized
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        var result: [(String, String)] = []
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty, trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasSuffix("\\") {
                pending += trimmed.dropLast() + " "
                continue
            }
            let whole = pending + trimmed
            pending = ""
            let parts = whole.split(separator: " ", maxSplits: 1)
            result.append((String(parts[0]).uppercased(), parts.count > 1 ? String(parts[1]) : ""))
        }
        return result
    }()

    static func arguments(of keyword: String) -> [String] {
        instructions.filter { $0.keyword == keyword }.map(\.argument)
    }

    /// The words of the `RUN` instructions of the final (runtime) stage.
    static var runtimeWords: Set<String> {
        let lastStage = instructions.lastIndex { $0.keyword == "FROM" } ?? 0
        let runs = instructions[lastStage...].filter { $0.keyword == "RUN" }.map(\.argument)
        return Set(runs.flatMap { $0.split(whereSeparator: \.isWhitespace).map(String.init) })
    }

    /// A JSON-array (exec form) argument, as the list of strings Docker runs.
    static func execForm(_ argument: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(argument.utf8))
    }

    /// `ENV` pairs of the final stage.
    static var environment: [String: String] {
        var environment: [String: String] = [:]
        for argument in arguments(of: "ENV") {
            for pair in argument.split(separator: " ") where pair.contains("=") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                environment[String(parts[0])] = String(parts[1])
            }
        }
        return environment
    }

    @Test func theImageRunsServeOnItsVolumeAndPort() throws {
        #expect(try Self.execForm(try #require(Self.arguments(of: "ENTRYPOINT").last)) == ["circle-archive"])
        let command = try Self.execForm(try #require(Self.arguments(of: "CMD").last))
        // The same parser the binary uses: a flag Serve does not know would fail here.
        let parsed = try CircleArchive.parseAsRoot(command)
        let serve = try #require(parsed as? Serve)
        let configuration = try serve.resolve(Self.environment.merging(["CIRCLE_ARCHIVE_SECRETS": "s"]) { $1 })
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.databasePath.hasPrefix("/data/"))
        #expect(Self.arguments(of: "VOLUME").contains { $0.contains("\"/data\"") })
        #expect(Self.arguments(of: "EXPOSE") == ["\(configuration.port)"])
        let health = try #require(Self.arguments(of: "HEALTHCHECK").last)
        #expect(health.contains("http://127.0.0.1:\(configuration.port)/healthz"))
        #expect(Self.arguments(of: "STOPSIGNAL") == ["SIGTERM"])
    }

    @Test func theRuntimeStageIsSlimNonRootAndHasWhatTheBinaryLinks() throws {
        let stages = Self.arguments(of: "FROM")
        #expect(stages.count == 2)
        // One Debian release for both stages, so the binary finds the glibc it was linked against.
        #expect(stages.last == "debian:bookworm-slim")
        #expect(Self.arguments(of: "ARG").contains { $0.hasPrefix("SWIFT_IMAGE=swift:") && $0.hasSuffix("-bookworm") })
        let user = try #require(Self.arguments(of: "USER").last)
        #expect(user != "root" && user != "0")
        let runs = Self.arguments(of: "RUN").joined(separator: "\n")
        #expect(runs.contains("swift build -c release --static-swift-stdlib --product circle-archive"))
        // System libraries the binary links (SQLite through GRDB, zlib for gzip input), and curl
        // for the health check.
        for package in ["libsqlite3-0", "zlib1g", "ca-certificates", "curl"] {
            #expect(Self.runtimeWords.contains(package), "\(package) is not installed in the runtime stage")
        }
    }

    /// README's set-up is followed literally on a fresh machine: its apt-get line installs every
    /// package the image's build stage and `.ci/run` install, and it says how to get the
    /// `circle-archive` command every later example runs, the way the image builds it.
    @Test func readmesSetUpInstallsWhatTheBuildNeedsAndTheCommand() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let setUp = try #require(readme.components(separatedBy: "## Set up").dropFirst().first?.components(separatedBy: "\n## ").first)
        let install = try #require(setUp.split(separator: "\n").first { $0.hasPrefix("apt-get update && apt-get install -y ") })
        let documented = Set(install.split(separator: " ").dropFirst(6).map(String.init))
        let firstStage = Self.instructions.prefix { $0.keyword != "FROM" || $0.argument.hasPrefix("${SWIFT_IMAGE}") }
        let buildPackages = firstStage.filter { $0.keyword == "RUN" && $0.argument.contains("apt-get install") }
            .flatMap { $0.argument.split(whereSeparator: \.isWhitespace).map(String.init) }.filter { $0.hasSuffix("-dev") }
        #expect(!buildPackages.isEmpty)
        let ci = try String(contentsOf: root.appendingPathComponent(".ci/run"), encoding: .utf8)
        let ciPackages = try #require(ci.firstMatch(of: /for package in ([a-z0-9 .+-]+); do/)?.1).split(separator: " ").map(String.init)
        for package in buildPackages + ciPackages + ["sqlite3"] {
            #expect(documented.contains(package), "README's set-up does not install \(package)")
        }
        #expect(setUp.contains("swift build -c release --static-swift-stdlib --product circle-archive"))
        #expect(setUp.contains("install -m 0755 .build/release/circle-archive /usr/local/bin/circle-archive"))
    }
}
