import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

/// The suites that load the machine (a browser, DuckDB, servers under load and killed) or time
/// what they do: one at a time, so a browser starting does not slow a shutdown being timed.
@Suite(.serialized) struct ProcessHeavyTests {}

extension ProcessHeavyTests {
    /// The promises of README's "Guarantees", checked on the real binary under load: an event
    /// answered `stored` survives a kill -9 and a shutdown, and readers never block or see a torn state.
    @Suite struct ReliabilityTests {
        static let secret = "reliability-secret"

        func startServer(_ path: String) async throws -> (ServerProcess, port: Int) {
            try await ServerProcess.started(path: path, secret: Self.secret)
        }

        func eventIDs(_ path: String) throws -> Set<String> {
            Set(
                try rows(path, "SELECT id FROM events").compactMap { row -> String? in
                    guard case .text(let id) = row[0] else { return nil }
                    return id
                }
            )
        }

        func rows(_ path: String, _ sql: String) throws -> [[SQLValue]] {
            var collector = RowCollector()
            try ArchiveReader.open(path: path).query(sql, into: &collector)
            return collector.rows
        }

        @Test func everyAcknowledgedEventSurvivesRepeatedKills() async throws {
            let path = try makeTemporaryDirectory().appendingPathComponent("crash.sqlite").path
            var acknowledged: Set<String> = []
            for round in 0..<4 {
                let (server, port) = try await startServer(path)
                // The restart recovered everything acknowledged before the last kill, intact.
                #expect(try eventIDs(path).isSuperset(of: acknowledged), "round \(round)")
                #expect(try rows(path, "PRAGMA integrity_check") == [[.text("ok")]])
                let load = LoadGenerator(port: port, secret: Self.secret, senders: 8, prefix: "round\(round)")
                try await blockingWork { load.waitForStored(150) }
                // Killed in the middle of the load, with requests in flight.
                #expect(try await blockingWork { server.stop(signal: SIGKILL) } == SIGKILL)
                let tally = try await blockingWork { load.stop() }
                #expect(tally.stored.count >= 150)
                #expect(tally.statuses.keys.allSatisfy { $0 == 200 }, "\(tally.statuses)")
                acknowledged.formUnion(tally.stored)
            }
            // After the last kill: a restart finds every acknowledged event and ingest goes on.
            let (server, port) = try await startServer(path)
            let stored = try eventIDs(path)
            #expect(stored.isSuperset(of: acknowledged), "lost: \(acknowledged.subtracting(stored).prefix(5))")
            #expect(try rows(path, "PRAGMA integrity_check") == [[.text("ok")]])
            let load = LoadGenerator(port: port, secret: Self.secret, senders: 2, prefix: "after")
            try await blockingWork { load.waitForStored(20) }
            #expect(try await blockingWork { load.stop() }.stored.count >= 20)
            #expect(try await blockingWork { server.stop() } == 0)
        }

        @Test func sigtermUnderLoadAnswersEachRequestItTookAndExitsCleanly() async throws {
            let path = try makeTemporaryDirectory().appendingPathComponent("shutdown.sqlite").path
            let (server, port) = try await startServer(path)
            let load = LoadGenerator(port: port, secret: Self.secret, senders: 16, prefix: "shutdown")
            try await blockingWork { load.waitForStored(200) }
            let started = Date()
            #expect(try await blockingWork { server.stop(signal: SIGTERM, timeout: 15) } == 0)
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed < 10, "shutdown took \(elapsed) s")
            let tally = try await blockingWork { load.stop() }
            // Requests the server took were answered (never 5xx); later ones were refused.
            #expect(tally.statuses.keys.allSatisfy { $0 == 200 }, "\(tally.statuses)")
            #expect(tally.unanswered > 0, "some senders tried after the server stopped")
            #expect(server.output.contains("archive closed"))
            let stored = try eventIDs(path)
            #expect(stored.isSuperset(of: tally.stored), "lost: \(tally.stored.subtracting(stored).prefix(5))")
            #expect(try rows(path, "PRAGMA integrity_check") == [[.text("ok")]])
        }

        @Test func readersRunWhileTheServerIngestsAtFullSpeed() async throws {
            let directory = try makeTemporaryDirectory()
            let path = directory.appendingPathComponent("busy.sqlite").path
            let (server, port) = try await startServer(path)
            let load = LoadGenerator(port: port, secret: Self.secret, senders: 8, prefix: "busy")
            try await blockingWork { load.waitForStored(100) }
            let storedBefore = load.snapshot.stored.count
            // Each job-completed event adds exactly one job, so in any consistent snapshot the two
            // counts are equal; a reader seeing half a commit would find them apart.
            let consistency = "SELECT (SELECT count(*) FROM events) = (SELECT count(*) FROM jobs) AS consistent"
            for pass in 0..<3 {
                let query = try await run(["query", "--db", path, "-f", "csv", consistency])
                #expect(query.status == 0, "\(query.stderr)")
                #expect(query.stdout == "consistent\r\n1\r\n")
                let report = try await run(["report", "durations", "--db", path, "--by", "job", "-f", "jsonl"])
                #expect(report.status == 0, "\(report.stderr)")
                #expect(report.stdout.contains(#""job":"test""#))
                let export = try await run(["export", "jobs", "--db", path, "-f", "csv"])
                #expect(export.status == 0, "\(export.stderr)")
                #expect(export.stdout.split(separator: "\r\n").count > 100)
                let copy = directory.appendingPathComponent("backup-\(pass).sqlite").path
                let backup = try await run(["backup", "--db", path, copy])
                #expect(backup.status == 0, "\(backup.stderr)")
                #expect(try rows(copy, consistency) == [[.integer(1)]])
                #expect(try rows(copy, "PRAGMA integrity_check") == [[.text("ok")]])
            }
            let tally = try await blockingWork { load.stop() }
            // Ingest went on while the readers ran, without a single refusal.
            #expect(tally.stored.count > storedBefore)
            #expect(tally.statuses.keys.allSatisfy { $0 == 200 }, "\(tally.statuses)")
            #expect(tally.unanswered == 0)
            #expect(try await blockingWork { server.stop() } == 0)
            #expect(try eventIDs(path).isSuperset(of: tally.stored))
        }
    }
}
