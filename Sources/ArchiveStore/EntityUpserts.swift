import ArchiveModel

/// The entity rows one transaction merges, with repeats folded together before they reach SQLite.
///
/// The events of one batch mostly carry the same organization, project, pipeline and workflow,
/// value for value: a batch of job events would merge the same project row once per event. Merging
/// a record twice with equal values changes nothing that merging it once with the newer of the two
/// ordering keys does not (each column either takes the newer non-null value or keeps its own, and
/// the values are the same), so equal records are applied once, with their newest key. Records whose
/// values differ are all applied; the merge rule itself stays in SQL (`EntityStatement.upsertSQL`).
struct EntityUpserts {
    struct Upsert: Sendable {
        let statement: EntityStatement
        let values: [SQLValue]
        var key: String
    }

    private struct Identity: Hashable {
        let table: String
        let values: [SQLValue]
    }

    /// In the order first seen.
    private(set) var upserts: [Upsert] = []
    private var positions: [Identity: Int] = [:]

    mutating func add<Record: EntityRecord>(_ record: Record?, key: String) {
        guard let record else { return }
        let values = Record.table.values(record)
        let identity = Identity(table: Record.table.statement.name, values: values)
        if let position = positions[identity] {
            // Ordering keys compare as SQLite compares text: by UTF-8 bytes.
            if upserts[position].key.utf8.lexicographicallyPrecedes(key.utf8) { upserts[position].key = key }
        } else {
            positions[identity] = upserts.count
            upserts.append(Upsert(statement: Record.table.statement, values: values, key: key))
        }
    }

    mutating func add(entitiesOf event: WebhookEvent) {
        let key = event.orderingKey
        add(event.organization, key: key)
        add(event.project, key: key)
        add(event.pipeline, key: key)
        add(event.workflow, key: key)
        add(event.job, key: key)
    }
}
