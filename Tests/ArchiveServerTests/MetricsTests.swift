import ArchiveModel
import ArchiveServer
import ArchiveStore
import ArchiveTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A Prometheus text exposition, parsed: each sample by its name and its labels sorted by name,
/// e.g. `circle_archive_deliveries_total{outcome="stored",type="ping"}`.
struct Scrape {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            let valueStart = try #require(line.lastIndex(of: " "), "\(line)")
            let series = line[..<valueStart]
            let value = try #require(Double(line[line.index(after: valueStart)...]), "\(line)")
            samples[try Self.canonical(series)] = value
        }
    }

    /// The series with its labels in name order; label values keep their escapes.
    static func canonical(_ series: Substring) throws -> String {
        guard let open = series.firstIndex(of: "{") else { return String(series) }
        let name = series[..<open]
        let body = series[series.index(after: open)..<(try #require(series.lastIndex(of: "}")))]
        var labels: [String] = []
        var current = ""
        var inValue = false
        var escaped = false
        for character in body {
            if inValue && !escaped && character == "\\" {
                escaped = true
                current.append(character)
                continue
            }
            if character == "\"" && !escaped { inValue.toggle() }
            escaped = false
            if character == "," && !inValue {
                labels.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { labels.append(current) }
        return "\(name){\(labels.sorted().joined(separator: ","))}"
    }

    subscript(_ series: String) -> Double? {
        samples[(try? Self.canonical(Substring(series))) ?? series]
    }
}

extension TestClientProtocol {
    func scrape() async throws -> Scrape {
        let (status, contentType, text) = try await execute(uri: "/metrics", method: .get) {
            ($0.status, $0.headers[.contentType], String(buffer: $0.body))
        }
        #expect(status == .ok)
        #expect(contentType == "text/plain; version=0.0.4; charset=utf-8")
        return try Scrape(text)
    }
}

@Suite struct MetricsTests {
    static let project = #"project="gh/acme/widgets""#

    /// Known traffic, then a scrape: every figure the issue names, exactly.
    @Test(arguments: transports)
    func aScrapeCountsKnownTraffic(transport: TestingSetup) async throws {
        try await withServer(try testConfiguration { $0.maxBodyBytes = 8192 }, transport) { (client, _) async throws in
            let passed = Fixtures.jobCompleted()  // 65.329 s
            let failed = Fixtures.jobCompleted(
                id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                happenedAt: "2024-03-05T10:20:00.000Z",
                jobID: "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70",
                status: "failed",
                startedAt: "2024-03-05T10:18:00.000Z",
                stoppedAt: "2024-03-05T10:19:30.500Z"
            )  // 90.5 s
            for body in [passed, failed, passed, Fixtures.workflowCompleted(), Fixtures.ping] {
                #expect(try await client.deliver(body).0 == .ok)
            }
            let forged: HTTPFields = [HTTPField.Name("circleci-signature")!: "v1=00", HTTPField.Name("circleci-event-type")!: "ping"]
            #expect(try await client.deliver(Fixtures.ping, headers: forged).0 == .unauthorized)
            #expect(try await client.deliver("{}", headers: signedHeaders("{}", eventType: "made-up")).0 == .badRequest)
            let large = Fixtures.jobCompleted() + String(repeating: " ", count: 8192)
            #expect(try await client.deliver(large).0 == .contentTooLarge)

            let scrape = try await client.scrape()
            func deliveries(_ type: String, _ outcome: String) -> Double? {
                scrape[#"circle_archive_deliveries_total{type="\#(type)",outcome="\#(outcome)"}"#]
            }
            #expect(deliveries("job-completed", "stored") == 2)
            #expect(deliveries("job-completed", "duplicate") == 1)
            #expect(deliveries("workflow-completed", "stored") == 1)
            #expect(deliveries("ping", "stored") == 1)
            #expect(deliveries("ping", "unauthorized") == 1)
            #expect(deliveries("other", "rejected") == 1)
            #expect(deliveries("job-completed", "too_large") == 1)
            #expect(deliveries("job-completed", "unavailable") == 0, "every type and outcome is there from the start")
            let total = scrape.samples.filter { $0.key.hasPrefix("circle_archive_deliveries_total{") }.values.reduce(0, +)
            #expect(total == 8)
            #expect(scrape["circle_archive_ingest_duration_seconds_count"] == 8)

            #expect(scrape[#"circle_archive_jobs_completed_total{\#(Self.project),job="test",status="success"}"#] == 1)
            #expect(scrape[#"circle_archive_jobs_completed_total{\#(Self.project),job="test",status="failed"}"#] == 1)
            #expect(scrape[#"circle_archive_job_duration_seconds_count{\#(Self.project),job="test"}"#] == 2)
            let jobSeconds = try #require(scrape[#"circle_archive_job_duration_seconds_sum{\#(Self.project),job="test"}"#])
            #expect(abs(jobSeconds - (65.329 + 90.5)) < 1e-6)
            #expect(scrape[#"circle_archive_job_duration_seconds_bucket{\#(Self.project),job="test",le="60.0"}"#] == 0)
            #expect(scrape[#"circle_archive_job_duration_seconds_bucket{\#(Self.project),job="test",le="120.0"}"#] == 2)
            let workflow = #"\#(Self.project),workflow="build-test-deploy""#
            #expect(scrape["circle_archive_workflows_completed_total{\(workflow),status=\"success\"}"] == 1)
            let workflowSeconds = try #require(scrape["circle_archive_workflow_duration_seconds_sum{\(workflow)}"])
            #expect(abs(workflowSeconds - 270.554) < 1e-6)

            // The failed job's event is the newest that happened.
            #expect(scrape["circle_archive_last_event_timestamp_seconds"] == 1_709_634_000)
            // Deliveries that reached the writer: two jobs, the workflow, the ping and the rejected body.
            // The duplicate came straight back from memory; the commits' sizes add up to the rest.
            #expect(scrape["circle_archive_commit_batch_size_sum"] == 5)
            #expect((scrape["circle_archive_commit_duration_seconds_count"] ?? 0) >= 1)
            #expect((scrape["circle_archive_database_size_bytes"] ?? 0) > 0)
            #expect(scrape["circle_archive_wal_size_bytes"] != nil)

            for family in ["circle_archive_deliveries_total", "circle_archive_jobs_completed_total"] {
                #expect(scrape.types[family] == "counter")
            }
            for family in ["circle_archive_ingest_duration_seconds", "circle_archive_job_duration_seconds", "circle_archive_commit_batch_size"] {
                #expect(scrape.types[family] == "histogram")
            }
            #expect(scrape.types["circle_archive_last_event_timestamp_seconds"] == "gauge")
        }
    }

    /// Cancelling a workflow sends one workflow-completed event per running job and one more, each
    /// with its own id: the counters count one workflow, as reports do, and one duration.
    @Test func aCancelledWorkflowsSeveralEventsCountOneWorkflow() async throws {
        try await withServer(try testConfiguration()) { (client, _) async throws in
            for index in 0..<4 {
                let event = Fixtures.workflowCompleted(
                    id: "cancel-\(index)",
                    happenedAt: "2024-03-05T11:00:0\(index).000Z",
                    status: "canceled",
                    createdAt: "2024-03-05T10:59:00.000Z",
                    stoppedAt: "2024-03-05T11:00:0\(index).000Z"
                )
                #expect(try await client.deliver(event).0 == .ok)
            }
            // The same job reported twice under two event ids counts once too.
            for id in ["job-event-1", "job-event-2"] {
                #expect(try await client.deliver(Fixtures.jobCompleted(id: id)).0 == .ok)
            }
            let scrape = try await client.scrape()
            #expect(scrape[#"circle_archive_deliveries_total{type="workflow-completed",outcome="stored"}"#] == 4)
            let workflow = #"\#(Self.project),workflow="build-test-deploy""#
            #expect(scrape["circle_archive_workflows_completed_total{\(workflow),status=\"canceled\"}"] == 1)
            #expect(scrape["circle_archive_workflow_duration_seconds_count{\(workflow)}"] == 1)
            #expect(scrape["circle_archive_workflow_duration_seconds_sum{\(workflow)}"] == 60)
            #expect(scrape[#"circle_archive_jobs_completed_total{\#(Self.project),job="test",status="success"}"#] == 1)
        }
    }

    @Test func theFreshnessGaugeStartsFromTheArchiveAfterARestart() async throws {
        let configuration = try testConfiguration()
        try await withServer(configuration) { (client, _) async throws in
            #expect(try await client.deliver(Fixtures.workflowCompleted()).0 == .ok)
        }
        try await withServer(configuration) { (client, _) async throws in
            #expect(try await client.scrape()["circle_archive_last_event_timestamp_seconds"] == 1_709_633_674.317)
        }
    }

    @Test func anOlderEventDoesNotMoveTheFreshnessGaugeBack() throws {
        let metrics = ArchiveMetrics()
        metrics.eventHappened(at: Timestamp(microseconds: 2_000_000))
        metrics.eventHappened(at: Timestamp(microseconds: 1_000_000))
        let scrape = try Scrape(String(decoding: metrics.exposition(diskUsage: .init(database: 0, wal: 0)), as: UTF8.self))
        #expect(scrape["circle_archive_last_event_timestamp_seconds"] == 2)
    }

    /// Label values stay bounded whatever CircleCI sends: names past the limit, unknown statuses.
    @Test func labelCardinalityIsBounded() throws {
        let metrics = ArchiveMetrics(seriesLimit: 2)
        for (index, name) in ["lint", "test", "deploy", "e2e", "lint"].enumerated() {
            let body = Fixtures.jobCompleted(id: UUID().uuidString.lowercased(), number: index, name: name, status: "mysterious")
            metrics.archived(try #require(PreparedDelivery(body: Array(body.utf8), headers: []).event), completesRun: true)
        }
        let text = String(decoding: metrics.exposition(diskUsage: .init(database: 1, wal: 0)), as: UTF8.self)
        let scrape = try Scrape(text)
        let jobs = scrape.samples.filter { $0.key.hasPrefix("circle_archive_jobs_completed_total{") }
        #expect(
            jobs == [
                #"circle_archive_jobs_completed_total{job="lint",\#(Self.project),status="other"}"#: 2,
                #"circle_archive_jobs_completed_total{job="test",\#(Self.project),status="other"}"#: 1,
                #"circle_archive_jobs_completed_total{job="(other)",project="(other)",status="other"}"#: 2,
            ]
        )
        #expect(!text.contains("mysterious") && !text.contains("deploy"))
    }

    /// A name with quotes, a backslash and a newline is escaped, not able to break the format.
    @Test func labelValuesAreEscaped() throws {
        let metrics = ArchiveMetrics()
        let body = Fixtures.jobCompleted(name: #"say \"hi\"\\ \n"#)
        metrics.archived(try #require(PreparedDelivery(body: Array(body.utf8), headers: []).event), completesRun: true)
        let text = String(decoding: metrics.exposition(diskUsage: .init(database: 1, wal: 0)), as: UTF8.self)
        #expect(text.contains(#"job="say \"hi\"\\ \n""#), "\(text)")
        #expect(text.split(separator: "\n").allSatisfy { $0.hasPrefix("#") || $0.hasPrefix("circle_archive_") })
    }
}
