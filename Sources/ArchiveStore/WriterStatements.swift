import GRDB
import GRDBSQLite

/// A value bound to a write-path statement.
enum SQLiteValue {
    case null
    case integer(Int64)
    case text(String)

    init(_ text: String?) {
        self = text.map { .text($0) } ?? .null
    }

    init(_ integer: Int64?) {
        self = integer.map { .integer($0) } ?? .null
    }
}

/// The statements every event runs, prepared once on the writer connection and bound with
/// SQLite's C API. They run a dozen times per event with a dozen values each; through GRDB's
/// general-purpose path (each value boxed, the SQL hashed to find its cached statement) the Swift
/// side cost about as much as SQLite's own work.
///
/// Used only inside the writer's transactions, which GRDB runs one at a time on one connection;
/// that serialization is what makes the unchecked `Sendable` sound.
final class WriterStatements: @unchecked Sendable {
    enum Statement: Int, CaseIterable {
        case insertEvent, organizations, projects, pipelines, workflows, jobs

        var sql: String {
            switch self {
            case .insertEvent: Schema.insertEvent
            case .organizations: Schema.organizations.upsertSQL
            case .projects: Schema.projects.upsertSQL
            case .pipelines: Schema.pipelines.upsertSQL
            case .workflows: Schema.workflows.upsertSQL
            case .jobs: Schema.jobs.upsertSQL
            }
        }
    }

    private var handles = [OpaquePointer?](repeating: nil, count: Statement.allCases.count)

    /// Runs `statement` with `values` bound to its parameters in order.
    func execute(_ statement: Statement, _ values: [SQLiteValue], in db: Database) throws {
        let connection = db.sqliteConnection
        let handle = try prepared(statement, connection)
        defer { sqlite3_reset(handle) }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let integer): code = sqlite3_bind_int64(handle, index, integer)
            case .text(var text):
                code = text.withUTF8 { sqlite3_bind_text(handle, index, $0.baseAddress, Int32($0.count), Self.transient) }
            }
            guard code == SQLITE_OK else { throw Self.error(code, connection) }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw Self.error(code, connection) }
    }

    /// Finalizes every statement; the connection cannot close while one is left.
    func finalize() {
        for index in handles.indices {
            sqlite3_finalize(handles[index])
            handles[index] = nil
        }
    }

    private func prepared(_ statement: Statement, _ connection: OpaquePointer?) throws -> OpaquePointer? {
        if let handle = handles[statement.rawValue] { return handle }
        var handle: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, statement.sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard code == SQLITE_OK else { throw Self.error(code, connection) }
        handles[statement.rawValue] = handle
        return handle
    }

    /// Tells SQLite to copy bound text, which lives only for the duration of the bind call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func error(_ code: Int32, _ connection: OpaquePointer?) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
    }
}
