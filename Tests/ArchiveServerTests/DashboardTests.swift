import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The dashboard as `serve` mounts it: every page answers, with its policy, only to GET and HEAD;
/// what the archive holds shows as text, never as markup; filters narrow what is shown.
@Suite struct DashboardTests {
    static let policy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    /// Names an attacker could give a job or a workflow, and a commit subject.
    static let hostileJob = "<script>alert(1)</script>"
    static let hostileWorkflow = #"\"><img src=x onerror=alert(2)>"#

    static func events() -> [String] {
        let pipeline = Fixtures.githubPipeline()
        return [
            Fixtures.jobCompleted(id: "e1", jobID: "j1", number: 1, name: "test", status: "failed", pipeline: pipeline),
            Fixtures.jobCompleted(id: "e2", jobID: "j2", number: 2, name: "test", pipeline: pipeline),
            Fixtures.jobCompleted(id: "e3", jobID: "j3", number: 3, name: hostileJob, workflowID: "wf-2", workflowName: hostileWorkflow),
            Fixtures.workflowCompleted(),
        ]
    }

    struct Answer {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: String
    }

    func withDashboard(
        configured change: (inout ServeConfiguration) -> Void = { _ in },
        _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withServer(try testConfiguration(change), .router) { client, _ in
            for event in Self.events() { #expect(try await client.deliver(event).0 == .ok) }
            try await test(client)
        }
    }

    static let pages = [
        "/", "/tests", "/project?project=gh/acme/widgets", "/workflow?project=gh/acme/widgets&workflow=build-test-deploy",
        "/job?project=gh/acme/widgets&job=test", "/?since=all&project=github/acme/widgets&branch=main",
    ]

    @Test func everyPageAnswersWithItsPolicy() async throws {
        try await withDashboard { client in
            for path in Self.pages + ["/dashboard.css", "/data/durations.csv", "/data/flaky-tests.json", "/data/job-runs.csv?failed=1"] {
                let answer = try await client.get(path)
                #expect(answer.status == .ok, "\(path): \(answer.body)")
                #expect(answer.headers[HTTPField.Name("Content-Security-Policy")!] == Self.policy, "\(path)")
                #expect(answer.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            }
            #expect(try await client.get("/").headers[.contentType] == "text/html; charset=utf-8")
            #expect(try await client.get("/data/failures.csv").headers[.contentType] == "text/csv; charset=utf-8")
            let head = try await client.execute(uri: "/", method: .head) { ($0.status, $0.body.readableBytes) }
            #expect(head == (.ok, 0))
            for (path, method) in [("/", HTTPRequest.Method.post), ("/data/durations.csv", .put), ("/job", .delete)] {
                #expect(try await client.execute(uri: path, method: method) { $0.status } == .methodNotAllowed, "\(method) \(path)")
            }
        }
    }

    @Test func pagesShowTheArchivesFigures() async throws {
        try await withDashboard { client in
            let overview = try await client.get("/?since=all").body
            #expect(overview.contains(#"<h2><a href="/project?project=gh/acme/widgets&amp;since=all">gh/acme/widgets</a></h2>"#), "\(overview)")
            #expect(overview.contains("<svg"), "charts are drawn")
            #expect(overview.contains("Nothing has arrived since"), "the 2024 fixtures are old: the freshness warning shows")
            let job = try await client.get("/job?project=gh/acme/widgets&job=test&since=all").body
            // Two runs of `test`, one failed: each is a point, the failed one in red.
            #expect(job.components(separatedBy: #"<circle class="failed""#).count == 2, "\(job)")
            #expect(job.components(separatedBy: #"<circle class="run""#).count == 2)
            #expect(job.contains(#"<a href="https://app.circleci.com/pipelines/github/acme/widgets/130/workflows/"#))
            #expect(job.contains("<code>circle-archive report durations --by job --project gh/acme/widgets --job test --since all</code>") == false)
            #expect(job.contains("<code>circle-archive report durations --by job --project gh/acme/widgets --job test</code>"))
        }
    }

    @Test func hostileNamesShowAsText() async throws {
        try await withDashboard { client in
            let encodedJob = DashboardQueryEncoding.encode(Self.hostileJob)
            for path in ["/?since=all", "/project?project=gh/acme/widgets&since=all", "/job?project=gh/acme/widgets&since=all&job=\(encodedJob)"] {
                let body = try await client.get(path).body
                #expect(!body.contains("<script"), "\(path)")
                #expect(!body.contains("<img"), "\(path)")
                #expect(!body.contains("onerror=alert(2)>"), "\(path)")
            }
            let job = try await client.get("/job?project=gh/acme/widgets&since=all&job=\(encodedJob)").body
            #expect(job.contains("Job &lt;script&gt;alert(1)&lt;/script&gt;"), "\(job)")
            let project = try await client.get("/project?project=gh/acme/widgets&since=all").body
            #expect(project.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), "\(project)")
        }
    }

    @Test func filtersNarrowAndBadOnesAreRefused() async throws {
        try await withDashboard { client in
            let all = try await client.get("/data/durations.csv?since=all").body
            #expect(all.split(separator: "\r\n").count == 3, "header, test and the hostile job: \(all)")
            let test = try await client.get("/data/durations.csv?since=all&job=test").body
            #expect(test.split(separator: "\r\n").count == 2)
            let window = try await client.get("/data/durations.csv?since=2024-03-06").body
            #expect(window.split(separator: "\r\n").count == 1, "nothing completed after the fixtures' day")
            let bad = try await client.get("/?since=yesterday")
            #expect(bad.status == .badRequest && bad.body.contains("since=yesterday is not a time. A time ago: 30m"), "\(bad.body)")
            #expect(try await client.get("/job?project=gh/acme/widgets").status == .badRequest)
            #expect(try await client.get("/data/durations.csv?by=month").status == .badRequest)
            #expect(try await client.get("/data/nothing.csv").status == .notFound)
        }
    }

    @Test func noDashboardLeavesOnlyTheServersRoutes() async throws {
        let off: @Sendable (any TestClientProtocol) async throws -> Void = { client in
            let (root, health) = (try await client.get("/"), try await client.get("/healthz"))
            #expect(root.status == .notFound)
            #expect(health.status == .ok)
        }
        try await withDashboard(configured: { $0.dashboard = false }, off)
    }
}

/// Percent-encoding for query values, as a browser's form would send them.
enum DashboardQueryEncoding {
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

extension TestClientProtocol {
    func get(_ path: String) async throws -> DashboardTests.Answer {
        try await execute(uri: path, method: .get) { DashboardTests.Answer(status: $0.status, headers: $0.headers, body: String(buffer: $0.body)) }
    }
}
