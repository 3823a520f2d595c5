import ArchiveModel

/// An entity table (organizations, projects, pipelines, workflows, jobs): its columns, declared
/// once beside the record values they take, and its merge rule.
///
/// Each row remembers the ordering key (`happened_at` + event id) of the newest event applied.
/// A newer event overwrites the values it carries and keeps the others; an older event only
/// fills values the row lacks, so it never overwrites newer data. Columns whose value changes over
/// an entity's life and is absent from some events (a workflow's status and stopped_at) are
/// versioned one by one: each takes the value of the newest event that carries it. Together this
/// makes the final row independent of arrival order.
struct EntityTable<Record>: Sendable {
    let table: Table<Record>
    let statement: EntityStatement

    /// `columns` start with `id`, the conflict target.
    init(_ name: String, _ columns: [Column<Record>]) {
        precondition(columns.first?.name == "id", "\(name): the first column is the id")
        let versioned = columns.compactMap(\.versionedBy)
        table = Table(name, keptBySQLite: ["last_event_key"] + versioned, columns)
        statement = EntityStatement(table: table)
    }

    /// The record's values, `id` first, in the order the upsert binds them.
    func values(_ record: Record) -> [SQLValue] { table.values(record) }
}

/// The upsert of an entity table, free of the record type, so that one transaction can hold the
/// rows of every table (see `EntityUpserts`).
struct EntityStatement: Sendable {
    let name: String
    let upsertSQL: String
    /// For each data column (after `id`): whether it is versioned on its own.
    private let versioned: [Bool]

    init<Record>(table: Table<Record>) {
        name = table.name
        let data = table.columns.dropFirst()
        versioned = data.map { $0.versionedBy != nil }
        let keyColumns = data.compactMap(\.versionedBy)
        let insertColumns = table.columnNames + ["last_event_key"] + keyColumns
        let placeholders = Array(repeating: "?", count: insertColumns.count).joined(separator: ", ")
        let assignments = data.flatMap { column -> [String] in
            let name = column.name
            if let keyColumn = column.versionedBy {
                let newer = "excluded.\(name) IS NOT NULL AND (\(keyColumn) IS NULL OR excluded.last_event_key > \(keyColumn))"
                return [
                    "\(name) = CASE WHEN \(newer) THEN excluded.\(name) ELSE \(name) END",
                    "\(keyColumn) = CASE WHEN \(newer) THEN excluded.last_event_key ELSE \(keyColumn) END",
                ]
            }
            return [
                "\(name) = CASE WHEN excluded.last_event_key > last_event_key"
                    + " THEN coalesce(excluded.\(name), \(name)) ELSE coalesce(\(name), excluded.\(name)) END"
            ]
        }
        upsertSQL = """
            INSERT INTO \(name) (\(insertColumns.joined(separator: ", "))) VALUES (\(placeholders))
            ON CONFLICT (id) DO UPDATE SET
                \((assignments + ["last_event_key = max(last_event_key, excluded.last_event_key)"]).joined(separator: ",\n    "))
            """
    }

    /// The arguments of `upsertSQL` for one row: its values (`id` first), the ordering key, then
    /// the key of each versioned column that has a value.
    func upsertArguments(_ values: [SQLValue], key: String) -> [SQLValue] {
        var arguments = values
        arguments.append(.text(key))
        for (isVersioned, value) in zip(versioned, values.dropFirst()) where isVersioned {
            if case .null = value { arguments.append(.null) } else { arguments.append(.text(key)) }
        }
        return arguments
    }
}

/// A normalized record and the table it merges into.
protocol EntityRecord {
    static var table: EntityTable<Self> { get }
}

extension OrganizationRecord: EntityRecord {
    static let table = EntityTable<Self>(
        "organizations",
        [
            Column("id") { .init($0.id) },
            Column("name") { .init($0.name) },
        ]
    )
}

extension ProjectRecord: EntityRecord {
    static let table = EntityTable<Self>(
        "projects",
        [
            Column("id") { .init($0.id) },
            Column("slug") { .init($0.slug) },
            Column("name") { .init($0.name) },
            Column("organization_id") { .init($0.organizationID) },
        ]
    )
}

extension PipelineRecord: EntityRecord {
    static let table = EntityTable<Self>(
        "pipelines",
        [
            Column("id") { .init($0.id) },
            Column("number") { .init($0.number) },
            Column("project_id") { .init($0.projectID) },
            Column("created_at") { .init($0.createdAt) },
            Column("trigger_type") { .init($0.triggerType) },
            Column("trigger_actor_id") { .init($0.triggerActorID) },
            Column("vcs_provider_name") { .init($0.vcsProviderName) },
            Column("vcs_target_repository_url") { .init($0.vcsTargetRepositoryURL) },
            Column("vcs_origin_repository_url") { .init($0.vcsOriginRepositoryURL) },
            Column("vcs_revision") { .init($0.vcsRevision) },
            Column("vcs_branch") { .init($0.vcsBranch) },
            Column("vcs_tag") { .init($0.vcsTag) },
            Column("commit_subject") { .init($0.commitSubject) },
            Column("commit_body") { .init($0.commitBody) },
            Column("commit_author_name") { .init($0.commitAuthorName) },
            Column("commit_author_email") { .init($0.commitAuthorEmail) },
            Column("commit_authored_at") { .init($0.commitAuthoredAt) },
            Column("commit_committer_name") { .init($0.commitCommitterName) },
            Column("commit_committer_email") { .init($0.commitCommitterEmail) },
            Column("commit_committed_at") { .init($0.commitCommittedAt) },
            Column("source") { .init($0.source.rawValue) },
        ]
    )
}

extension WorkflowRecord: EntityRecord {
    static let table = EntityTable<Self>(
        "workflows",
        [
            Column("id") { .init($0.id) },
            Column("name") { .init($0.name) },
            Column("pipeline_id") { .init($0.pipelineID) },
            Column("project_id") { .init($0.projectID) },
            Column("status", versionedBy: "status_event_key") { .init($0.status) },
            Column("created_at") { .init($0.createdAt) },
            Column("stopped_at", versionedBy: "stopped_at_event_key") { .init($0.stoppedAt) },
            Column("url") { .init($0.url) },
            Column("source") { .init($0.source.rawValue) },
        ]
    )
}

extension JobRecord: EntityRecord {
    static let table = EntityTable<Self>(
        "jobs",
        [
            Column("id") { .init($0.id) },
            Column("number") { .init($0.number) },
            Column("name") { .init($0.name) },
            Column("status") { .init($0.status) },
            Column("started_at") { .init($0.startedAt) },
            Column("stopped_at") { .init($0.stoppedAt) },
            Column("workflow_id") { .init($0.workflowID) },
            Column("pipeline_id") { .init($0.pipelineID) },
            Column("project_id") { .init($0.projectID) },
            Column("source") { .init($0.source.rawValue) },
        ]
    )
}
