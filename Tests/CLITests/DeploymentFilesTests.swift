import Foundation
import Testing
import Yams

@testable import ArchiveModel
@testable import ArchiveServer
@testable import ArchiveStore

/// docker-compose.yml and Datasette's metadata, checked without a Docker engine: the compose file
/// parses, refers only to files that exist and wires the services as documented, and every canned
/// query runs against an archive built by the ingest path.
struct DeploymentFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static func yaml(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "\(path) is not a YAML mapping")
    }

    @Test func composeWiresTheArchiverAndAReadOnlyDatasette() throws {
        let compose = try Self.yaml("docker-compose.yml")
        let services = try #require(compose["services"] as? [String: Any])
        let archive = try #require(services["archive"] as? [String: Any])
        let datasette = try #require(services["datasette"] as? [String: Any])

        // Build contexts and mounted files exist.
        for service in [archive, datasette] {
            let context = try #require(service["build"] as? String)
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(context).appendingPathComponent("Dockerfile").path))
            #expect(service["restart"] as? String == "unless-stopped")
        }
        let datasetteVolumes = try #require(datasette["volumes"] as? [String])
        for mount in datasetteVolumes where mount.hasPrefix("./") {
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(String(mount.split(separator: ":")[0])).path), "\(mount)")
        }

        // The archive's data on a named volume, which Datasette mounts read-only.
        let named = try #require(compose["volumes"] as? [String: Any])
        #expect(try #require(archive["volumes"] as? [String]) == ["archive-data:/data"])
        #expect(datasetteVolumes.contains("archive-data:/data:ro"))
        #expect(named.keys.contains("archive-data"))

        // The secret comes from the environment (.env), required; nothing secret is in the file.
        let environment = try #require(archive["environment"] as? [String: Any])
        #expect((environment["CIRCLE_ARCHIVE_SECRETS"] as? String)?.hasPrefix("${CIRCLE_ARCHIVE_SECRETS:?") == true)
        #expect(environment["CIRCLE_ARCHIVE_DB"] as? String == "/data/archive.sqlite")

        // Health check on /healthz; Datasette waits for it; shutdown gets the request timeout.
        let health = try #require((archive["healthcheck"] as? [String: Any])?["test"] as? [String])
        #expect(health.last == "http://127.0.0.1:8080/healthz")
        #expect(((datasette["depends_on"] as? [String: Any])?["archive"] as? [String: Any])?["condition"] as? String == "service_healthy")
        #expect(archive["stop_grace_period"] as? String == "40s")

        // Datasette reads the archive's file with the metadata mounted, on a pinned version.
        let command = try #require(datasette["command"] as? String)
        #expect(command.contains("/data/archive.sqlite") && command.contains("--metadata /etc/datasette/metadata.yml"))
        let image = try String(contentsOf: Self.root.appendingPathComponent("datasette/Dockerfile"), encoding: .utf8)
        #expect(image.contains("datasette==0.65.1"))
    }

    /// deploy/check-proxy.sh runs the proxy files for real; this keeps them in step with the
    /// archiver's defaults without nginx or Caddy.
    @Test func theProxyAndReplicationExamplesMatchTheDefaults() throws {
        func text(_ path: String) throws -> String { try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8) }
        let nginx = try text("deploy/nginx.conf")
        let caddy = try text("deploy/Caddyfile")
        let upstream = "127.0.0.1:\(ServeConfiguration.defaultPort)"
        #expect(nginx.contains("server \(upstream);") && caddy.contains("reverse_proxy \(upstream)"))
        // The proxies' body limit is the archiver's.
        #expect(ServeConfiguration.defaultMaxBodyBytes == 1 << 20)
        #expect(nginx.contains("client_max_body_size 1m;") && caddy.contains("max_size 1MiB"))
        // Only the webhook route is public.
        #expect(nginx.contains("location = \(WebhookController.path) {") && caddy.contains("handle \(WebhookController.path) {"))
        let directives = (nginx + "\n" + caddy).split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        #expect(!directives.contains { $0.contains("/metrics") || $0.contains("/healthz") })
        // Litestream replicates the file the image and compose use.
        let litestream = try Self.yaml("deploy/litestream.yml")
        let databases = try #require(litestream["dbs"] as? [[String: Any]])
        let environment = try #require(
            (try Self.yaml("docker-compose.yml")["services"] as? [String: [String: Any]])?["archive"]?["environment"] as? [String: Any]
        )
        #expect(databases.map { $0["path"] as? String } == [environment["CIRCLE_ARCHIVE_DB"] as? String])
    }

    @Test func everyCannedQueryRunsAgainstARealArchive() async throws {
        let metadata = try Self.yaml("datasette/metadata.yml")
        // Datasette names a database after its file: /data/archive.sqlite is "archive".
        let queries = try #require(((metadata["databases"] as? [String: Any])?["archive"] as? [String: Any])?["queries"] as? [String: Any])
        #expect(queries.count >= 3)
        // SQL cannot call Swift, so the canned queries spell out the statuses that count as failures:
        // each spelling must be the one the reports use.
        let text = try String(contentsOf: Self.root.appendingPathComponent("datasette/metadata.yml"), encoding: .utf8)
        expectFailureStatusesAsReportsCountThem(in: text)
        let reader = try ArchiveReader.open(path: try await reportArchive())
        for (name, query) in queries {
            let sql = try #require((query as? [String: Any])?["sql"] as? String, "\(name) has no sql")
            // Named parameters (:days) bind by position; a long window takes the 2024 fixtures in.
            let parameters = sql.contains(":days") ? [SQLValue.integer(100_000)] : []
            var rows = RowCollector()
            try reader.query(sql, arguments: parameters, into: &rows)
            #expect(!rows.columns.isEmpty, "\(name)")
            if name != "flaky_jobs" { #expect(!rows.rows.isEmpty, "\(name) found nothing in the sample archive") }
        }
    }
}

/// SQL written for people (README, Datasette) cannot call Swift, so it spells out the job
/// statuses and test results that count as failures: each spelling in `text` must be the one the
/// reports use.
func expectFailureStatusesAsReportsCountThem(in text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for (column, condition) in [("job_status", RunStatus.failureCondition("job_status")), ("result", TestOutcome.failureCondition("result"))] {
        let spellings = text.components(separatedBy: "\(column) IN (").dropFirst().map { "\(column) IN (" + $0.prefix { $0 != ")" } + ")" }
        #expect(!spellings.isEmpty, "no \(column) IN (…)", sourceLocation: sourceLocation)
        #expect(spellings.allSatisfy { $0 == condition }, "\(Set(spellings))", sourceLocation: sourceLocation)
    }
}
