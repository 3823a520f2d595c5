import ArchiveModel
import Foundation
import GRDB

extension ArchiveReader {
    /// Facts about the archive as (metric, value) rows: schema version, size, `PRAGMA quick_check`,
    /// row counts (and how many came from `backfill`, and how far it got), first and last event,
    /// and events by type over the last 24 hours and 7 days.
    public func stats(now: Timestamp = .now(), into sink: inout some RowSink) throws {
        var rows: [[SQLValue]] = []
        func add(_ metric: String, _ value: SQLValue) { rows.append([.text(metric), value]) }
        add("schema_version", try schemaVersion().map(SQLValue.text) ?? .null)
        let dayAgo = Timestamp(microseconds: now.microseconds - 86_400_000_000).iso8601
        let weekAgo = Timestamp(microseconds: now.microseconds - 7 * 86_400_000_000).iso8601
        do {
            try database.read { db in
                let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
                // The WAL holds commits not yet checkpointed into the main file; both are the archive's size.
                add("database_bytes", .integer(pages * pageSize + Int64(ArchiveStore.fileSize(path + "-wal"))))
                add("quick_check", .text(try String.fetchAll(db, sql: "PRAGMA quick_check").joined(separator: "; ")))
                for table in ["events", "organizations", "projects", "pipelines", "workflows", "jobs", "rejected_deliveries"] {
                    add("rows.\(table)", .integer(try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0))
                }
                // Rows whose newest values came from `backfill`, and how far it got per project.
                if try db.tableExists("backfill_progress") {
                    for table in ["pipelines", "workflows", "jobs"] {
                        let count = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE source = 'api'") ?? 0
                        add("rows.\(table).from_api", .integer(count))
                    }
                    for progress in try Row.fetchAll(
                        db,
                        sql: "SELECT project_slug, branch, covered_from, covered_to FROM backfill_progress ORDER BY 1, 2"
                    ) {
                        let branch: String = progress[1]
                        let from: String = progress[2]
                        add(
                            "backfilled.\(progress[0] as String)\(branch.isEmpty ? "" : "@" + branch)",
                            .text("\(from.isEmpty ? "first pipeline" : from) to \(progress[3] as String)")
                        )
                    }
                }
                // What enrichment from CircleCI's API has done: jobs enriched, no longer at
                // CircleCI, waiting in the queue, and the test results kept.
                if try db.tableExists("enrichment_queue") {
                    for status in ["enriched", "unavailable"] {
                        let count = try Int64.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE enrichment_status = ?", arguments: [status])
                        add("jobs.\(status)", .integer(count ?? 0))
                    }
                    add("jobs.enrichment_queued", .integer(try Int64.fetchOne(db, sql: "SELECT count(*) FROM enrichment_queue") ?? 0))
                    add("rows.test_results", .integer(try Int64.fetchOne(db, sql: "SELECT count(*) FROM test_results") ?? 0))
                }
                // Days reports read from the runs because their summaries are not (yet) rebuilt.
                if try db.tableExists(RunSummaries.jobs.staleDays) {
                    let stale = RunSummaries.all.map { "(SELECT count(*) FROM \($0.staleDays))" }.joined(separator: " + ")
                    add("summaries.stale_days", .integer(try Int64.fetchOne(db, sql: "SELECT \(stale)") ?? 0))
                }
                // An archive not yet migrated by a newer server has no counters.
                for counter in try db.tableExists("archive_counters")
                    ? Row.fetchAll(db, sql: "SELECT name, value FROM archive_counters ORDER BY name") : []
                {
                    add("counters.\(counter[0] as String)", .integer(counter[1]))
                }
                add("first_event_at", try String.fetchOne(db, sql: "SELECT min(happened_at) FROM events").map(SQLValue.text) ?? .null)
                add("last_event_at", try String.fetchOne(db, sql: "SELECT max(happened_at) FROM events").map(SQLValue.text) ?? .null)
                for (window, since) in [("24h", dayAgo), ("7d", weekAgo)] {
                    let counts = try Row.fetchAll(
                        db,
                        sql: "SELECT type, count(*) FROM events WHERE happened_at >= ? GROUP BY type ORDER BY type",
                        arguments: [since]
                    )
                    add("events_\(window)", .integer(counts.reduce(0) { $0 + ($1[1] as Int64) }))
                    for count in counts {
                        add("events_\(window).\(count[0] as String)", .integer(count[1]))
                    }
                }
            }
        } catch {
            throw StoreError(.unavailable, "cannot read archive statistics: \(describe(error))", cause: error)
        }
        try sink.start(columns: ["metric", "value"])
        for row in rows { try sink.write(row) }
    }

    /// Writes a consistent copy of the archive to `destination` with `VACUUM INTO`: a snapshot of
    /// one read transaction, taken while writers keep going (WAL mode), compacted, with no WAL
    /// to copy alongside. `destination` must not exist.
    public func backup(to destination: String) throws(StoreError) {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw StoreError(.destinationExists, "\(destination) already exists; backup never overwrites a file")
        }
        do {
            try database.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
        } catch {
            throw StoreError(.unavailable, "backup to \(destination) failed: \(describe(error))", cause: error)
        }
    }
}
