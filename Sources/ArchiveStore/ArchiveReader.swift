import ArchiveMigrations
import ArchiveModel
import Foundation
import GRDB
import GRDBSQLite

/// Read access to an archive. `query`, `report` and `export` open one read-only, so a mistyped
/// statement can never change the archive; the server's store holds one on its own pool.
public struct ArchiveReader: Sendable {
    let database: any DatabaseReader
    /// The archive file.
    public let path: String
    /// Whether reports read the day and month summaries of job runs where they are fresh (see
    /// RunSummaries.swift); off, they read every run. The results are the same: tests compare.
    var useSummaries = true

    init(database: any DatabaseReader, path: String) {
        self.database = database
        self.path = path
    }

    /// Opens an existing archive read-only. It does not migrate: reading an archive must never
    /// change it. With `concurrentReads`, an archive in WAL mode (what serve writes) is read
    /// through several connections at once, for a server answering several readers.
    /// `onStatement` sees each statement run, with its values bound (for tests of query plans).
    public static func open(
        path: String,
        busyTimeout: TimeInterval = 5,
        concurrentReads: Bool = false,
        onStatement: (@Sendable (String) -> Void)? = nil
    ) throws(StoreError) -> ArchiveReader {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(
                .cannotOpen,
                "no archive at \(path) (start `circle-archive serve` or run `circle-archive migrate` to create one)"
            )
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "circle-archive-reader"
        if let onStatement {
            configuration.prepareDatabase { db in
                db.trace(options: .statement) { event in
                    if case .statement(let statement) = event { onStatement(statement.expandedSQL) }
                }
            }
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            // Opening is lazy about the file's contents; touch the schema so a non-database fails here.
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema") }
            // A read-only pool needs the file in WAL mode already; a backup made by VACUUM INTO is not.
            if concurrentReads, try queue.read({ db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }) == "wal" {
                try queue.close()
                return ArchiveReader(database: try DatabasePool(path: path, configuration: configuration), path: path)
            }
            return ArchiveReader(database: queue, path: path)
        } catch {
            throw StoreError(.cannotOpen, "cannot open archive at \(path): \(describe(error))", cause: error)
        }
    }

    /// Runs one SQL statement and hands its column names, then each row, to `sink` as they are
    /// read, so a large result is never held in memory. Errors thrown by the sink (a closed
    /// stdout, say) are rethrown unchanged; SQLite errors become `.invalidQuery`.
    public func query(_ sql: String, arguments: [SQLValue] = [], into sink: inout some RowSink) throws {
        try stream(sql, arguments: arguments, columns: { try sink.start(columns: $0) }, row: { try sink.write($0) })
    }

    /// `query` with callbacks instead of a sink.
    func stream(
        _ sql: String,
        arguments: [SQLValue] = [],
        columns: ([String]) throws -> Void,
        row: ([SQLValue]) throws -> Void
    ) throws {
        try reading { try $0.stream(sql, arguments: arguments, columns: columns, row: row) }
    }

    /// Runs `body` in one read transaction, so that every statement it runs sees the same
    /// archive. Errors thrown by callbacks are rethrown unchanged; SQLite errors become
    /// `.invalidQuery`.
    func reading<T>(_ body: (ReadSession) throws -> T) throws -> T {
        do {
            return try database.read { db in try body(ReadSession(db: db)) }
        } catch let error as CallbackError {
            throw error.error
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.invalidQuery, describe(error), cause: error)
        }
    }

    /// The statement `sql` holds, which must be exactly one: GRDB's own messages for none or
    /// several speak to programmers, these to people typing SQL.
    static func oneStatement(_ sql: String, in db: Database) throws -> Statement {
        do {
            return try db.makeStatement(sql: sql)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_MISUSE && error.message?.hasPrefix("Multiple statements") == true {
            throw StoreError(
                .invalidQuery,
                "the text holds more than one SQL statement; query runs one at a time (run each with its own query)"
            )
        } catch let error as DatabaseError where error.message == "empty statement" {
            throw StoreError(.invalidQuery, "no SQL statement, only blanks or comments")
        }
    }

    /// Succeeds when the database answers a trivial query.
    public func healthCheck() async throws(StoreError) {
        do {
            _ = try await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            throw StoreError(.unavailable, "database does not answer: \(describe(error))", cause: error)
        }
    }

    /// The latest `happened_at` in the archive (an index lookup); nil while it holds no event.
    public func newestEventTime() throws(StoreError) -> Timestamp? {
        do {
            return try database.read { db in
                try String.fetchOne(db, sql: "SELECT max(happened_at) FROM events").flatMap { Timestamp(iso8601: $0) }
            }
        } catch {
            throw StoreError(.unavailable, "cannot read the newest event: \(describe(error))", cause: error)
        }
    }

    /// Throws unless the archive has every migration this build knows: a reader that uses the
    /// newest views (the dashboard) says what to run rather than failing on a missing table
    /// later. Readers never migrate.
    public func requireCurrentSchema() throws(StoreError) {
        let version = try schemaVersion()
        guard let current = Migrations.all.last?.id, version != current else { return }
        if let version, version > current {
            throw StoreError(
                .schemaTooNew,
                "the archive at \(path) was written by a newer circle-archive (schema \(version)); upgrade circle-archive"
            )
        }
        throw StoreError(
            .schemaTooOld,
            "the archive at \(path) has schema \(version ?? "none"), older than this circle-archive's \(current); "
                + "run `circle-archive migrate --db \(path)` (or start serve on it) to upgrade it, then start again"
        )
    }

    /// The id of the newest migration applied, e.g. `0001_initial`; nil for an empty database.
    public func schemaVersion() throws(StoreError) -> String? {
        do {
            return try database.read { db in
                guard try db.tableExists("grdb_migrations") else { return nil }
                return try String.fetchOne(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier DESC LIMIT 1")
            }
        } catch {
            throw StoreError(.unavailable, "cannot read schema version: \(describe(error))", cause: error)
        }
    }
}

extension SQLValue {
    /// The value of a column of the row `handle` is on. Text that is not valid UTF-8 (written by
    /// another tool) is repaired with U+FFFD rather than refused.
    init(column: Int32, of handle: OpaquePointer) {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: self = .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: self = .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            let text = sqlite3_column_text(handle, column)
            let count = Int(sqlite3_column_bytes(handle, column))
            self = .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let bytes = sqlite3_column_blob(handle, column)
            let count = Int(sqlite3_column_bytes(handle, column))
            self = .blob(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: self = .null
        }
    }

    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let integer): return integer.databaseValue
        case .real(let double): return double.databaseValue
        case .text(let string): return string.databaseValue
        case .blob(let bytes): return Data(bytes).databaseValue
        }
    }
}

/// The statements of one read transaction (see `ArchiveReader.reading`).
struct ReadSession {
    let db: Database

    /// Runs one SQL statement and hands its column names, then each row, to the callbacks as
    /// they are read.
    func stream(
        _ sql: String,
        arguments: [SQLValue] = [],
        columns: ([String]) throws -> Void,
        row: ([SQLValue]) throws -> Void
    ) throws {
        let statement = try ArchiveReader.oneStatement(sql, in: db)
        statement.arguments = StatementArguments(arguments.map(\.databaseValue))
        do {
            try columns(statement.columnNames)
        } catch {
            throw CallbackError(error: error)
        }
        // GRDB steps the statement; the values are read with SQLite's C API, which spares
        // exports of millions of rows a boxed `DatabaseValue` per cell.
        let cursor = try Row.fetchCursor(statement)
        let handle = statement.sqliteStatement
        let count = statement.columnCount
        var values = [SQLValue](repeating: .null, count: count)
        while try cursor.next() != nil {
            for index in 0..<count {
                values[index] = SQLValue(column: Int32(index), of: handle)
            }
            do {
                try row(values)
            } catch {
                throw CallbackError(error: error)
            }
        }
    }

    /// The first row of a statement run many times (prepared once), or nil when it has none.
    func firstRow(_ sql: String, arguments: [SQLValue]) throws -> [SQLValue]? {
        let statement = try db.cachedStatement(sql: sql)
        statement.arguments = StatementArguments(arguments.map(\.databaseValue))
        // The cursor resets the statement when it goes: the values are read while it is here.
        let cursor = try Row.fetchCursor(statement)
        guard try cursor.next() != nil else { return nil }
        return withExtendedLifetime(cursor) {
            (0..<statement.columnCount).map { SQLValue(column: Int32($0), of: statement.sqliteStatement) }
        }
    }
}

/// An error thrown by a caller's callback, carried through GRDB to be rethrown as it was.
struct CallbackError: Error {
    let error: any Error
}
