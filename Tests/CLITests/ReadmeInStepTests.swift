import ArchiveStore
import ArgumentParser
import Foundation
import Testing

@testable import CircleArchiveCLI

/// README is where users look for what the tool can do: every report, Datasette canned query and
/// `stats` row it names exists, and every one that exists is named.
@Suite struct ReadmeInStepTests {
    static let readme: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// README's text between a `## title` heading and the next `## `.
    static func section(_ title: String) throws -> Substring {
        let start = try #require(readme.range(of: "\n## \(title)"))
        let rest = readme[start.upperBound...]
        return rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
    }

    /// Backticked words of `text` that match `pattern`.
    static func backticked(_ text: Substring, matching pattern: String) throws -> Set<String> {
        let regex = try Regex("`(\(pattern))`")
        return Set(text.matches(of: regex).compactMap { $0.output[1].substring.map(String.init) })
    }

    @Test func everyReportIsShownInTheReportsSection() throws {
        let reports = try Self.section("Reports")
        for command in Report.configuration.subcommands {
            #expect(reports.contains("circle-archive report \(command._commandName) "), "README's Reports has no example of \(command._commandName)")
            #expect(reports.contains("- `\(command._commandName)"), "README's Reports does not describe \(command._commandName)'s columns")
        }
    }

    @Test func everyDatasetteQueryIsNamed() throws {
        let metadata = try DeploymentFilesTests.yaml("datasette/metadata.yml")
        let queries = try #require(((metadata["databases"] as? [String: Any])?["archive"] as? [String: Any])?["queries"] as? [String: Any])
        for name in queries.keys {
            #expect(Self.readme.contains("`\(name)`"), "README does not name Datasette's \(name)")
        }
    }

    /// The paragraph of README that lists `stats`'s rows names each row `stats` prints and no
    /// other; the rows per event type (`events_24h.TYPE`), which depend on the archive, by an
    /// example.
    @Test func everyStatsRowIsNamedAndEveryNamedRowExists() async throws {
        let stats = try await run(["stats", "--db", try await reportArchive(), "--format", "csv"])
        func perType(_ name: String) -> Bool { name.hasPrefix("events_24h.") || name.hasPrefix("events_7d.") }
        let rows = Set(stats.stdout.split(separator: "\r\n").dropFirst().map { String($0.prefix { $0 != "," }) }.filter { !perType($0) })
        let section = try Self.section("Import, stats, backup")
        let start = try #require(section.range(of: "`stats` prints"))
        let paragraph = section[start.lowerBound...].components(separatedBy: "\n\n")[0]
        let named = try Self.backticked(paragraph[...], matching: #"[a-z_0-9]+(?:\.[a-z_0-9-]+)*"#).subtracting(["stats", "ok", "backfill"])
        #expect(named.contains(where: perType), "README gives no example of the rows per event type")
        let listed = named.filter { !perType($0) }
        #expect(rows.subtracting(listed).isEmpty, "stats prints rows README does not name: \(rows.subtracting(listed).sorted())")
        #expect(listed.subtracting(rows).isEmpty, "README names stats rows that do not exist: \(listed.subtracting(rows).sorted())")
    }
}
