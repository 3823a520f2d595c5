import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

/// README: `import`, `backfill` and `migrate` leave every day's summaries rebuilt, so the reports
/// that follow read summaries, not every run.
@Suite struct SummaryCommandTests {
    /// `stats`' `summaries.stale_days`, and how many day rows of job runs there are.
    static func summaries(_ path: String) async throws -> (stale: String?, days: String?) {
        let stats = try await run(["stats", "--db", path, "--format", "csv"])
        let stale = stats.stdout.split(separator: "\r\n").first { $0.hasPrefix("summaries.stale_days,") }?.split(separator: ",").last
        let days = try ArchiveReader.open(path: path).texts("SELECT count(*) FROM job_run_days").first
        return (stale.map(String.init), days)
    }

    @Test func importLeavesNoDayStale() async throws {
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("a.sqlite").path
        let file = directory.appendingPathComponent("events.jsonl")
        try (sampleEvents.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let result = try await run(["import", "--db", path, file.path])
        #expect(result.status == 0, "\(result.stderr)")
        let (stale, days) = try await Self.summaries(path)
        #expect(stale == "0")
        #expect(days != nil && days != "0")
    }

    @Test func backfillLeavesNoDayStale() async throws {
        let fake = FakeCircleCI(projects: [APIFixtures.projectSlug: widgets(pipelines: 5)])
        let (url, stop) = await fake.serve()
        defer { Task { await stop() } }
        let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
        let result = try await run(
            ["backfill", "--db", path, "--project", APIFixtures.projectSlug, "--api-url", url, "--since", "30d", "--no-enrich"],
            environment: ["CIRCLE_TOKEN": FakeCircleCI.token]
        )
        #expect(result.status == 0, "\(result.stderr)")
        let (stale, days) = try await Self.summaries(path)
        #expect(stale == "0")
        #expect(days != nil && days != "0")
    }
}
