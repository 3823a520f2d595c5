import ArchiveMigrations
import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// Webhooks say `github/ORG/REPO`, the API and README `gh/ORG/REPO`: one project, one stored spelling.
@Suite struct ProjectSlugTests {
    @Test func longVCSNamesBecomeTheShortOnesAndOtherSlugsStayAsSent() {
        let cases: [(String, String)] = [
            ("github/acme/widgets", "gh/acme/widgets"), ("gh/acme/widgets", "gh/acme/widgets"),
            ("GitHub/acme/widgets", "gh/acme/widgets"), ("bitbucket/acme/gadgets", "bb/acme/gadgets"),
            ("bb/acme/gadgets", "bb/acme/gadgets"), ("circleci/DdaVtNus/6EkDPZoN", "circleci/DdaVtNus/6EkDPZoN"),
            ("gitlab/acme/x", "gitlab/acme/x"), ("github", "github"), ("", ""), ("acme/github/widgets", "acme/github/widgets"),
        ]
        for (slug, expected) in cases {
            #expect(ProjectSlug.canonical(slug) == expected, "\(slug)")
        }
    }

    @Test func aWebhooksGithubSlugIsStoredInTheShortForm() async throws {
        let (store, _) = try makeStore()
        #expect(Fixtures.jobCompleted().contains(#""slug":"github/acme/widgets""#), "fixtures use the real captures' spelling")
        _ = try await store.receive(Fixtures.jobCompleted())
        #expect(try store.reader.texts("SELECT slug FROM projects") == ["gh/acme/widgets"])
        #expect(
            try store.reader.texts("SELECT json_extract(payload, '$.project.slug') FROM events") == ["github/acme/widgets"],
            "the raw payload keeps what CircleCI sent"
        )
    }

    @Test func filtersFindAProjectByEitherSpelling() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.jobCompleted())
        let jobID = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
        try await store.store(
            JobEnrichment(jobID: jobID, outcome: .enriched(JobDetails(jobID: jobID), tests: [TestResult(name: "t")])),
            dequeuing: nil
        )
        for slug in ["gh/acme/widgets", "github/acme/widgets"] {
            for source in RunSource.allCases {
                var collector = RowCollector()
                try store.reader.export(source, filter: RunFilter(projects: [slug]), into: &collector)
                #expect(collector.rows.count == 1, "\(source) --project \(slug)")
            }
        }
        var filter = RunFilter()
        filter.projects = ["github/acme/widgets"]
        #expect(filter.projects == ["gh/acme/widgets"])
    }

    @Test func upgradingRewritesSlugsAnOlderVersionStoredAsSent() async throws {
        let (store, path) = try makeStore()
        _ = try await store.receive(Fixtures.jobCompleted())
        try store.close()
        // The archive as the previous version left it: slugs as webhooks sent them, progress under both spellings.
        try execute(
            """
            DELETE FROM grdb_migrations WHERE identifier = '0004_canonical_project_slugs';
            UPDATE projects SET slug = 'github/acme/widgets';
            INSERT INTO projects (id, slug, last_event_key) VALUES ('p2', 'bitbucket/acme/gadgets', 'k'), ('p3', 'circleci/a/b', 'k');
            INSERT INTO backfill_progress VALUES ('github/acme/widgets', '', '2024-01-01', '2024-02-01', 'old', 'x'),
                ('gh/acme/widgets', '', '2024-01-01', '2024-03-01', 'kept', 'x'), ('github/acme/widgets', 'main', '', '2024-02-01', NULL, 'x'),
                ('bitbucket/acme/gadgets', '', '', '2024-02-01', NULL, 'x');
            INSERT INTO backfilled_pipelines VALUES ('pl1', 'github/acme/widgets', '2024-01-02', 0, 'x');
            """,
            on: path
        )
        let upgraded = try ArchiveStore(path: path)
        #expect(try upgraded.reader.texts("SELECT slug FROM projects ORDER BY slug") == ["bb/acme/gadgets", "circleci/a/b", "gh/acme/widgets"])
        #expect(
            try upgraded.reader.texts("SELECT project_slug, branch, page_token FROM backfill_progress ORDER BY 1, 2") == [
                "bb/acme/gadgets||NULL", "gh/acme/widgets||kept", "gh/acme/widgets|main|NULL",
            ]
        )
        #expect(try upgraded.reader.texts("SELECT project_slug FROM backfilled_pipelines") == ["gh/acme/widgets"])
        try upgraded.close()
    }
}
