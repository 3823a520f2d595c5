import GRDB

/// The Swift side of the schema in `migrations/`: the column lists the write path binds and the
/// merge rule for entity rows. Changing a table means a new migration and a change here.
enum Schema {
    static let insertEvent = """
        INSERT INTO events (id, type, happened_at, received_at, webhook_id, webhook_name,
                            organization_id, project_id, pipeline_id, workflow_id, job_id, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO NOTHING
        """

    /// A body rejected before counts another attempt; the newest headers are kept.
    static let insertRejected = """
        INSERT INTO rejected_deliveries (received_at, last_received_at, reason, event_type, headers, body, body_sha256)
        VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (body_sha256) DO UPDATE SET
            attempts = attempts + 1,
            last_received_at = max(last_received_at, excluded.last_received_at),
            headers = excluded.headers
        """

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

    static let organizations = EntityTable(name: "organizations", columns: ["name"])
    static let projects = EntityTable(name: "projects", columns: ["slug", "name", "organization_id"])
    static let pipelines = EntityTable(
        name: "pipelines",
        columns: [
            "number", "project_id", "created_at", "trigger_type", "trigger_actor_id", "vcs_provider_name",
            "vcs_target_repository_url", "vcs_origin_repository_url", "vcs_revision", "vcs_branch", "vcs_tag",
            "commit_subject", "commit_body", "commit_author_name", "commit_author_email", "commit_authored_at",
            "commit_committer_name", "commit_committer_email", "commit_committed_at", "source",
        ])
    static let workflows = EntityTable(
        name: "workflows",
        columns: ["name", "pipeline_id", "project_id", "status", "created_at", "stopped_at", "url", "source"],
        separatelyVersioned: ["status": "status_event_key", "stopped_at": "stopped_at_event_key"])
    static let jobs = EntityTable(
        name: "jobs",
        columns: ["number", "name", "status", "started_at", "stopped_at", "workflow_id", "pipeline_id", "project_id", "source"])
}

/// An entity table (organizations, projects, pipelines, workflows, jobs) and its merge rule.
///
/// Each row remembers the ordering key (`happened_at` + event id) of the newest event applied.
/// A newer event overwrites the values it carries and keeps the others; an older event only
/// fills values the row lacks, so it never overwrites newer data. Columns whose value changes over
/// an entity's life and is absent from some events (a workflow's status and stopped_at) are
/// versioned one by one: each takes the value of the newest event that carries it. Together this
/// makes the final row independent of arrival order.
struct EntityTable: Sendable {
    let name: String
    /// Data columns after `id`, in the order `columnValues` lists them.
    let columns: [String]
    /// Columns versioned on their own, with the column holding each one's ordering key.
    let separatelyVersioned: [String: String]
    let upsertSQL: String

    init(name: String, columns: [String], separatelyVersioned: [String: String] = [:]) {
        self.name = name
        self.columns = columns
        self.separatelyVersioned = separatelyVersioned
        let keyColumns = columns.compactMap { separatelyVersioned[$0] }
        let insertColumns = ["id"] + columns + ["last_event_key"] + keyColumns
        let placeholders = Array(repeating: "?", count: insertColumns.count).joined(separator: ", ")
        let assignments = columns.flatMap { column -> [String] in
            if let keyColumn = separatelyVersioned[column] {
                let newer = "excluded.\(column) IS NOT NULL AND (\(keyColumn) IS NULL OR excluded.last_event_key > \(keyColumn))"
                return [
                    "\(column) = CASE WHEN \(newer) THEN excluded.\(column) ELSE \(column) END",
                    "\(keyColumn) = CASE WHEN \(newer) THEN excluded.last_event_key ELSE \(keyColumn) END",
                ]
            }
            return [
                "\(column) = CASE WHEN excluded.last_event_key > last_event_key"
                    + " THEN coalesce(excluded.\(column), \(column)) ELSE coalesce(\(column), excluded.\(column)) END"
            ]
        }
        upsertSQL = """
            INSERT INTO \(name) (\(insertColumns.joined(separator: ", "))) VALUES (\(placeholders))
            ON CONFLICT (id) DO UPDATE SET
                \((assignments + ["last_event_key = max(last_event_key, excluded.last_event_key)"]).joined(separator: ",\n    "))
            """
    }

    /// The arguments of `upsertSQL` for one row: `values` starts with the id, then one value per
    /// data column; the ordering keys follow.
    func upsertArguments(_ values: [SQLiteValue], key: String) -> [SQLiteValue] {
        precondition(values.count == columns.count + 1, "\(name): \(values.count) values for \(columns.count + 1) columns")
        var arguments = values
        arguments.append(.text(key))
        for (column, value) in zip(columns, values.dropFirst()) where separatelyVersioned[column] != nil {
            if case .null = value { arguments.append(.null) } else { arguments.append(.text(key)) }
        }
        return arguments
    }
}

/// Where a pipeline, workflow or job row's newest values came from (the `source` column).
public enum RecordSource: String, Sendable {
    /// An archived webhook event.
    case webhook
    /// `circle-archive backfill`, from CircleCI's API.
    case api
}

/// A normalized record and the table it merges into, with its values in the table's column order.
protocol EntityRecord {
    static var table: EntityTable { get }
    var columnValues: [SQLiteValue] { get }
}

extension OrganizationRecord: EntityRecord {
    static var table: EntityTable { Schema.organizations }
    var columnValues: [SQLiteValue] { [.text(id), .init(name)] }
}

extension ProjectRecord: EntityRecord {
    static var table: EntityTable { Schema.projects }
    var columnValues: [SQLiteValue] { [.text(id), .init(slug), .init(name), .init(organizationID)] }
}

extension PipelineRecord: EntityRecord {
    static var table: EntityTable { Schema.pipelines }
    var columnValues: [SQLiteValue] {
        [
            .text(id), .init(number), .init(projectID), .init(createdAt?.iso8601), .init(triggerType), .init(triggerActorID),
            .init(vcsProviderName), .init(vcsTargetRepositoryURL), .init(vcsOriginRepositoryURL), .init(vcsRevision),
            .init(vcsBranch), .init(vcsTag), .init(commitSubject), .init(commitBody), .init(commitAuthorName),
            .init(commitAuthorEmail), .init(commitAuthoredAt?.iso8601), .init(commitCommitterName),
            .init(commitCommitterEmail), .init(commitCommittedAt?.iso8601), .text(source.rawValue),
        ]
    }
}

extension WorkflowRecord: EntityRecord {
    static var table: EntityTable { Schema.workflows }
    var columnValues: [SQLiteValue] {
        [
            .text(id), .init(name), .init(pipelineID), .init(projectID), .init(status), .init(createdAt?.iso8601),
            .init(stoppedAt?.iso8601), .init(url), .text(source.rawValue),
        ]
    }
}

extension JobRecord: EntityRecord {
    static var table: EntityTable { Schema.jobs }
    var columnValues: [SQLiteValue] {
        [
            .text(id), .init(number), .init(name), .init(status), .init(startedAt?.iso8601), .init(stoppedAt?.iso8601),
            .init(workflowID), .init(pipelineID), .init(projectID), .text(source.rawValue),
        ]
    }
}
