import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// README's SQL cookbook runs as written against an archive built by the ingest path, so a schema
/// change that breaks one of its queries fails here.
struct CookbookTests {
    /// The ```sql blocks of README's "SQL cookbook" section.
    static func cookbookQueries() throws -> [String] {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: "### SQL cookbook"))
        let section = text[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        return section[..<end].components(separatedBy: "```sql\n").dropFirst().map { block in
            String(block.prefix(upTo: block.range(of: "```")!.lowerBound))
        }
    }

    @Test func everyCookbookQueryRuns() async throws {
        let queries = try Self.cookbookQueries()
        #expect(queries.count >= 5)
        expectFailureStatusesAsReportsCountThem(in: queries.joined(separator: "\n"))
        let reader = try ArchiveReader.open(path: try await reportArchive())
        for sql in queries {
            var rows = RowCollector()
            // Named after its first line, the comment that says what it answers.
            let name = String(sql.prefix { $0 != "\n" })
            try reader.query(sql, into: &rows)
            #expect(rows.columns.count >= 1, "\(name)")
            // The sample events are from 2024: a query over the last days finds nothing; the others must.
            if !sql.contains("'now'") { #expect(!rows.rows.isEmpty, "\(name) found nothing in the sample archive") }
        }
    }

    /// The PromQL failure rate in README's Metrics section names the failure statuses the reports use.
    @Test func thePromQLFailureRateCountsFailuresAsReportsDo() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized
        let text = try String(contentsOf: readme, encoding: .utf8)
        let failures = RunStatus.failures.joined(separator: "|")
        #expect(text.contains(#"status=~"\#(failures)""#))
        #expect(text.contains(#"status=~"success|\#(failures)""#))
    }
}
