import ArchiveModel
import Foundation
import GRDB

/// One column of a table the write path fills: its name in the schema beside the value it takes
/// from a row. A table is a list of these, so each column's name and value are written once,
/// together, and nothing positional is left to pair them wrongly. `TableDeclarationTests`
/// compares every declaration with the migrated schema and stores a row whose every column
/// holds a distinct value, read back by name.
struct Column<Row>: Sendable {
    let name: String
    /// One closure per column, called directly: the write path calls these about 60 times per event.
    let value: @Sendable (Row) -> SQLValue
    /// In an entity table, the column that keeps this one's own ordering key (see `EntityTable`).
    let versionedBy: String?

    init(_ name: String, versionedBy: String? = nil, _ value: @escaping @Sendable (Row) -> SQLValue) {
        self.name = name
        self.value = value
        self.versionedBy = versionedBy
    }
}

/// A table the write path fills: its columns in the order the generated SQL binds them.
struct Table<Row>: Sendable {
    let name: String
    let columns: [Column<Row>]
    /// Columns SQLite fills itself (an `INTEGER PRIMARY KEY`, a `DEFAULT`) or that the merge SQL
    /// keeps (ordering keys): in the schema, never bound from a row.
    let keptBySQLite: [String]

    /// The columns' value closures alone: iterating `columns` would retain and release each
    /// column's name with its closure, about 60 times per event on the writer's thread.
    private let readers: [@Sendable (Row) -> SQLValue]

    init(_ name: String, keptBySQLite: [String] = [], _ columns: [Column<Row>]) {
        self.name = name
        self.columns = columns
        self.keptBySQLite = keptBySQLite
        readers = columns.map(\.value)
    }

    var columnNames: [String] { columns.map(\.name) }

    /// A row's values, in `columnNames` order.
    func values(_ row: Row) -> [SQLValue] { readers.map { $0(row) } }

    /// A row's values as GRDB statement arguments, for the statements that do not run per event.
    func arguments(_ row: Row) -> StatementArguments {
        StatementArguments(values(row).map(\.databaseValue))
    }

    /// `UPDATE name SET column = ?, … WHERE condition`: the row's values, then the condition's.
    func updateSQL(where condition: String) -> String {
        "UPDATE \(name) SET \(columnNames.map { "\($0) = ?" }.joined(separator: ", ")) WHERE \(condition)"
    }

    /// `INSERT INTO name (columns…) VALUES (?, …)` followed by `conflictClause`.
    func insertSQL(_ conflictClause: String) -> String {
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return "INSERT INTO \(name) (\(columnNames.joined(separator: ", "))) VALUES (\(placeholders))\n\(conflictClause)"
    }
}

/// What a table declaration says about the schema, whatever its row type: for the test that
/// compares declarations with `PRAGMA table_info`.
struct DeclaredTable: Sendable {
    let name: String
    let columns: [String]
}

/// Every table the write path fills, declared once.
enum Tables {
    static let all: [DeclaredTable] = [
        declared(events), declared(OrganizationRecord.table.table), declared(ProjectRecord.table.table),
        declared(PipelineRecord.table.table), declared(WorkflowRecord.table.table), declared(JobRecord.table.table),
        declared(rejectedDeliveries), declared(backfilledPipelines), declared(backfillProgress), declared(jobDetails),
        declared(testResults), declared(enrichmentQueue),
    ]

    private static func declared<Row>(_ table: Table<Row>) -> DeclaredTable {
        DeclaredTable(name: table.name, columns: table.columnNames + table.keptBySQLite)
    }

    /// Every accepted delivery, once per event id, with the exact body received.
    static let events = Table<ArchivedEvent>(
        "events",
        [
            Column("id") { .init($0.event.id) },
            Column("type") { .init($0.event.type) },
            Column("happened_at") { .init($0.event.happenedAt) },
            Column("received_at") { .init($0.receivedAt) },
            Column("webhook_id") { .init($0.event.webhookID) },
            Column("webhook_name") { .init($0.event.webhookName) },
            Column("organization_id") { .init($0.event.organizationID) },
            Column("project_id") { .init($0.event.projectID) },
            Column("pipeline_id") { .init($0.event.pipelineID) },
            Column("workflow_id") { .init($0.event.workflowID) },
            Column("job_id") { .init($0.event.jobID) },
            Column("payload") { .init($0.payload) },
        ]
    )

    static let insertEvent = events.insertSQL("ON CONFLICT (id) DO NOTHING")

    /// Signed deliveries that could not be archived, one row per distinct body.
    static let rejectedDeliveries = Table<Rejection>(
        "rejected_deliveries",
        keptBySQLite: ["id", "attempts"],
        [
            Column("received_at") { .init($0.receivedAt) },
            Column("last_received_at") { .init($0.receivedAt) },
            Column("reason") { .init($0.reason) },
            Column("event_type") { .init($0.eventType) },
            Column("headers") { .init($0.headers) },
            Column("body") { .blob($0.body) },
            Column("body_sha256") { .init($0.sha256) },
        ]
    )

    /// A body rejected before counts another attempt; the newest headers are kept.
    static let insertRejected = rejectedDeliveries.insertSQL(
        """
        ON CONFLICT (body_sha256) DO UPDATE SET
            attempts = attempts + 1,
            last_received_at = max(last_received_at, excluded.last_received_at),
            headers = excluded.headers
        """
    )

    /// Pipelines backfill fetched, and whether each was finished then.
    static let backfilledPipelines = Table<BackfilledPipelineRow>(
        "backfilled_pipelines",
        [
            Column("pipeline_id") { .init($0.pipelineID) },
            Column("project_slug") { .init($0.projectSlug) },
            Column("created_at") { .init($0.createdAt) },
            Column("finished") { .integer($0.finished ? 1 : 0) },
            Column("fetched_at") { .init($0.fetchedAt) },
        ]
    )

    static let recordBackfilledPipeline = backfilledPipelines.insertSQL(
        "ON CONFLICT (pipeline_id) DO UPDATE SET finished = excluded.finished, fetched_at = excluded.fetched_at"
    )

    /// How far backfill got, per project and branch filter.
    static let backfillProgress = Table<BackfillProgressRow>(
        "backfill_progress",
        [
            Column("project_slug") { .init($0.progress.projectSlug) },
            Column("branch") { .init($0.progress.branch) },
            Column("covered_from") { .text($0.progress.coveredFrom?.iso8601 ?? "") },
            Column("covered_to") { .init($0.progress.coveredTo) },
            Column("page_token") { .init($0.progress.pageToken) },
            Column("updated_at") { .init($0.updatedAt) },
        ]
    )

    static let saveBackfillProgress = backfillProgress.insertSQL(
        """
        ON CONFLICT (project_slug, branch) DO UPDATE SET
            covered_from = excluded.covered_from, covered_to = excluded.covered_to,
            page_token = excluded.page_token, updated_at = excluded.updated_at
        """
    )
}

/// An event as the `events` table keeps it.
struct ArchivedEvent {
    let event: WebhookEvent
    let payload: String
    let receivedAt: String
}

/// A delivery `rejected_deliveries` keeps: the reason, the event-type header, all headers as
/// JSON, the raw body and its SHA-256 (hex), which identifies a retry of the same body.
struct Rejection: Sendable {
    let reason: String
    let eventType: String?
    let headers: String
    let body: [UInt8]
    let sha256: String
    var receivedAt: String = ""
}

struct BackfilledPipelineRow {
    let pipelineID: String
    let projectSlug: String
    let createdAt: String
    let finished: Bool
    let fetchedAt: String
}

struct BackfillProgressRow {
    let progress: BackfillProgress
    let updatedAt: Timestamp
}

/// Keeping `rejected_deliveries` under its cap.
extension Tables {
    /// Size of what `rejected_deliveries` keeps, to compare with its cap.
    static let rejectedSize = """
        SELECT count(*), coalesce(sum(length(body) + length(headers)), 0) FROM rejected_deliveries
        """

    /// Drops the oldest rejected deliveries (by last attempt) beyond the newest ?1 bytes or ?2 rows.
    static let dropOldestRejected = """
        DELETE FROM rejected_deliveries WHERE id IN (
            SELECT id FROM (
                SELECT id,
                    sum(length(body) + length(headers)) OVER newest_first AS bytes_so_far,
                    row_number() OVER newest_first AS rows_so_far
                FROM rejected_deliveries
                WINDOW newest_first AS (ORDER BY last_received_at DESC, id DESC)
            )
            WHERE bytes_so_far > ?1 OR rows_so_far > ?2
        )
        """

    static let countDroppedRejected = """
        UPDATE archive_counters SET value = value + ?1 WHERE name = 'rejected_deliveries_dropped'
        """
}
