import Foundation
import GRDB
import GRDBSQLite

/// The statements every event runs, prepared once on the writer connection and bound with
/// SQLite's C API. They run a dozen times per event with a dozen values each; through GRDB's
/// general-purpose path (each value boxed, the SQL hashed to find its cached statement) the Swift
/// side cost about as much as SQLite's own work.
///
/// Used only inside the writer's transactions, which GRDB runs one at a time on one connection;
/// that serialization is what makes the unchecked `Sendable` sound.
final class WriterStatements: @unchecked Sendable {
    private var insertEventHandle: OpaquePointer?
    private var enqueueHandle: OpaquePointer?
    /// Upsert statements by table name (short keys: hashing the SQL itself was part of the cost).
    private var upsertHandles: [String: OpaquePointer] = [:]
    private var statusHandles: [String: OpaquePointer] = [:]

    /// Inserts an event row unless its id exists; `db.changesCount` tells which happened.
    func insertEvent(_ event: ArchivedEvent, in db: Database) throws {
        let connection = db.sqliteConnection
        if insertEventHandle == nil { insertEventHandle = try Self.prepare(Tables.insertEvent, connection) }
        try Self.run(insertEventHandle, Tables.events.values(event), connection)
    }

    /// Queues a job for enrichment, unless it is queued already.
    func enqueue(_ entry: QueueEntry, in db: Database) throws {
        let connection = db.sqliteConnection
        if enqueueHandle == nil { enqueueHandle = try Self.prepare(Tables.enqueue, connection) }
        try Self.run(enqueueHandle, Tables.enrichmentQueue.values(entry), connection)
    }

    /// Inserts or merges an entity row into its table, ordered by the event's key.
    func upsert(_ upsert: EntityUpserts.Upsert, in db: Database) throws {
        let connection = db.sqliteConnection
        let statement = upsert.statement
        let handle: OpaquePointer
        if let cached = upsertHandles[statement.name] {
            handle = cached
        } else {
            handle = try Self.prepare(statement.upsertSQL, connection)
            upsertHandles[statement.name] = handle
        }
        try Self.run(handle, statement.upsertArguments(upsert.values, key: upsert.key), connection)
    }

    /// The `status` of the row with `id` in `table` (`jobs` or `workflows`); nil when there is no
    /// row or no status. Asked once per completion event (see `CompletedRuns`).
    func status(in table: String, id: String, in db: Database) throws -> String? {
        let connection = db.sqliteConnection
        let handle: OpaquePointer
        if let cached = statusHandles[table] {
            handle = cached
        } else {
            handle = try Self.prepare("SELECT status FROM \(table) WHERE id = ?", connection)
            statusHandles[table] = handle
        }
        defer { sqlite3_reset(handle) }
        var id = id
        let bound = id.withUTF8 { sqlite3_bind_text(handle, 1, $0.baseAddress, Int32($0.count), Self.transient) }
        guard bound == SQLITE_OK else { throw Self.error(bound, connection) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW:
            guard let text = sqlite3_column_text(handle, 0) else { return nil }
            return String(cString: text)
        case SQLITE_DONE:
            return nil
        case let code:
            throw Self.error(code, connection)
        }
    }

    /// Finalizes every statement; the connection cannot close while one is left.
    func finalize() {
        sqlite3_finalize(insertEventHandle)
        insertEventHandle = nil
        sqlite3_finalize(enqueueHandle)
        enqueueHandle = nil
        for handle in Array(upsertHandles.values) + Array(statusHandles.values) { sqlite3_finalize(handle) }
        upsertHandles = [:]
        statusHandles = [:]
    }

    /// Binds `values` to the statement's parameters in order and steps it to completion.
    private static func run(_ handle: OpaquePointer?, _ values: [SQLValue], _ connection: OpaquePointer?) throws {
        defer { sqlite3_reset(handle) }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let integer): code = sqlite3_bind_int64(handle, index, integer)
            case .real(let double): code = sqlite3_bind_double(handle, index, double)
            case .text(var text):
                code = text.withUTF8 { sqlite3_bind_text(handle, index, $0.baseAddress, Int32($0.count), transient) }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transient) }
            }
            guard code == SQLITE_OK else { throw error(code, connection) }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw error(code, connection) }
    }

    private static func prepare(_ sql: String, _ connection: OpaquePointer?) throws -> OpaquePointer {
        var handle: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard code == SQLITE_OK, let handle else { throw error(code, connection) }
        return handle
    }

    /// Tells SQLite to copy bound text, which lives only for the duration of the bind call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func error(_ code: Int32, _ connection: OpaquePointer?) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
    }
}
