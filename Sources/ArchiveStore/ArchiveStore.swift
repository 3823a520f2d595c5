import ArchiveMigrations
import ArchiveModel
import Crypto
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// The archive: one SQLite file in WAL mode, one writer, concurrent readers.
///
/// This is the only type that writes the database. The HTTP server and the `import` command
/// both hand it deliveries through `receive` (or `PreparedDelivery` then `commit`), so an event
/// is validated, deduplicated and normalized the same way whichever way it arrived.
public final class ArchiveStore: Sendable {
    /// How far a commit goes before `receive` returns.
    public enum Durability: String, Sendable, CaseIterable {
        /// `synchronous=FULL`: the WAL is fsynced at every commit, so a `stored` answer survives a
        /// crash of the process and of the machine.
        case full
        /// `synchronous=NORMAL`: survives a crash of the process; a power loss may lose the last
        /// commits before a checkpoint.
        case normal
    }

    public struct Options: Sendable {
        public var durability: Durability
        /// How long a write waits for another process's lock before giving up with `.unavailable`.
        public var busyTimeout: TimeInterval
        /// How much `rejected_deliveries` keeps, so a broken sender cannot fill the disk.
        public var rejectedLimit: RejectedLimit
        /// Told of each committed transaction, on the writer's thread: how many deliveries it
        /// carried and how long it took. The server records these in `/metrics`; the store keeps
        /// no metrics of its own.
        public var onCommit: (@Sendable (_ deliveries: Int, _ duration: Duration) -> Void)?
        /// Queue each newly archived numbered job for enrichment (`enrichment_queue`), in the
        /// transaction that archives its event: on when `serve` has an API token.
        public var queuesEnrichment: Bool
        /// Told before an existing archive's pending migrations are applied (their ids, and nil)
        /// and after (their ids and how long they took), so a long upgrade is not a silent one.
        public var onMigration: (@Sendable (_ id: String, _ took: Duration?) -> Void)?

        public init(
            durability: Durability = .full,
            busyTimeout: TimeInterval = 5,
            rejectedLimit: RejectedLimit = RejectedLimit(),
            onCommit: (@Sendable (_ deliveries: Int, _ duration: Duration) -> Void)? = nil,
            queuesEnrichment: Bool = false,
            onMigration: (@Sendable (_ id: String, _ took: Duration?) -> Void)? = nil
        ) {
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.rejectedLimit = rejectedLimit
            self.onCommit = onCommit
            self.queuesEnrichment = queuesEnrichment
            self.onMigration = onMigration
        }
    }

    /// The cap on `rejected_deliveries`: when a new rejection goes over either bound, the deliveries
    /// whose last attempt is oldest are dropped and counted in `archive_counters`.
    public struct RejectedLimit: Sendable {
        /// Bodies and headers, in bytes.
        public var bytes: Int
        public var rows: Int

        public init(bytes: Int = 64 << 20, rows: Int = 10_000) {
            self.bytes = bytes
            self.rows = rows
        }
    }

    /// What the write path needs besides the database, shared with the group commit's queue.
    final class WriteContext: Sendable {
        let rejectedLimit: RejectedLimit
        let statements = WriterStatements()
        let recent = RecentIDs()
        let checkpointer: Checkpointer
        let transactions = Atomic<Int>(0)
        let deliveries = Atomic<Int>(0)
        let onCommit: (@Sendable (Int, Duration) -> Void)?
        let queuesEnrichment: Bool

        init(options: Options, checkpointer: Checkpointer) {
            rejectedLimit = options.rejectedLimit
            self.checkpointer = checkpointer
            onCommit = options.onCommit
            queuesEnrichment = options.queuesEnrichment
        }

        /// Counts a committed transaction and remembers the event ids it settled.
        func committed(_ outcomes: [DeliveryOutcome], in duration: Duration) {
            transactions.add(1, ordering: .relaxed)
            deliveries.add(outcomes.count, ordering: .relaxed)
            onCommit?(outcomes.count, duration)
            recent.insert(
                outcomes.lazy.compactMap { outcome in
                    switch outcome {
                    case .stored(let id, _), .duplicate(let id): id
                    case .rejected: nil
                    }
                }
            )
        }
    }

    let context: WriteContext
    private let groupCommit: GroupCommit

    /// Transactions committed and deliveries they carried since the store opened; their ratio
    /// is the mean batch size that group commit achieved.
    public struct CommitStatistics: Sendable, Equatable {
        public var transactions: Int
        public var deliveries: Int
    }

    public var commitStatistics: CommitStatistics {
        CommitStatistics(
            transactions: context.transactions.load(ordering: .relaxed),
            deliveries: context.deliveries.load(ordering: .relaxed)
        )
    }

    /// Bytes on disk: the database file and its write-ahead log (0 when there is none).
    public struct DiskUsage: Sendable, Equatable {
        public var database: Int
        public var wal: Int

        public init(database: Int, wal: Int) {
            self.database = database
            self.wal = wal
        }
    }

    public var diskUsage: DiskUsage {
        DiskUsage(database: Self.fileSize(path), wal: Self.fileSize(path + "-wal"))
    }

    /// The size of a file in bytes; 0 when it does not exist (a WAL after a clean close).
    public static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Pages in the WAL after the last commit, as the writer reported it (see `Checkpointer`).
    var walFrames: Int { context.checkpointer.walFrames.load(ordering: .relaxed) }

    let pool: DatabasePool
    public let path: String
    /// Read access to the same file, for health checks and queries while the store writes.
    public let reader: ArchiveReader

    /// Opens (creating if needed) the archive at `path` and applies pending migrations.
    public init(path: String, options: Options = Options()) throws(StoreError) {
        var configuration = Configuration()
        configuration.busyMode = .timeout(options.busyTimeout)
        configuration.label = "circle-archive"
        // SQLite needs to write the file and to create the -wal and -shm files beside it. Where it
        // cannot, it fails with a vague message or, worse, opens the file read-only and every
        // commit fails: refuse clearly instead. An archive that can acknowledge nothing should
        // say so once, loudly; a supervisor restarts it once the disk is writable.
        let directory = (path as NSString).deletingLastPathComponent
        for file in [directory.isEmpty ? "." : directory, path] where access(file, W_OK) != 0 {
            if [EROFS, EACCES, EPERM].contains(errno) { throw Self.readOnly(path) }
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError(.cannotOpen, "cannot open archive at \(path): \(describe(error))", cause: error)
        }
        self.path = path
        reader = ArchiveReader(database: pool, path: path)
        do {
            // The same check from SQLite's side, for whatever the access checks above cannot see.
            let readOnly = pool.writeWithoutTransaction { db in sqlite3_db_readonly(db.sqliteConnection, "main") == 1 }
            if readOnly { throw Self.readOnly(path) }
            // DatabasePool sets synchronous=NORMAL when it enables WAL, after any prepareDatabase
            // hook, so the durability setting is applied once the pool is open.
            let synchronous = options.durability == .full ? "FULL" : "NORMAL"
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                // Event ids are random, so inserts touch index pages all over the file: a 64 MiB
                // page cache for the writer keeps them from being read back from disk each batch.
                try db.execute(sql: "PRAGMA cache_size = -65536")
                // The summaries' triggers (migration 0008) make each upsert keep a statement
                // journal, so that the statement can be undone alone; in a temporary file, that
                // is a write call per page touched. In memory it costs nothing.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.cannotOpen, "cannot configure archive at \(path): \(describe(error))", cause: error)
        }
        let checkpointer = try Checkpointer(path: path)
        pool.writeWithoutTransaction { db in checkpointer.install(on: db) }
        let context = WriteContext(options: options, checkpointer: checkpointer)
        self.context = context
        groupCommit = GroupCommit { [pool] prepared in Self.commitNow(prepared, pool: pool, context: context) }
        try migrate(onMigration: options.onMigration)
    }

    private static func readOnly(_ path: String) -> StoreError {
        StoreError(
            .cannotOpen,
            "the archive at \(path) is read-only (file permissions or a read-only filesystem); circle-archive must be able to write it"
        )
    }

    /// The `synchronous` setting of the writer connection, as SQLite reports it (2 is FULL, 1 NORMAL).
    public func writerSynchronousSetting() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Flushes the WAL into the database file and closes every connection, so the `.sqlite`
    /// file alone holds the whole archive afterwards. While another process reads the archive
    /// (a long query, Litestream's replication lock), the WAL cannot be emptied: it is left
    /// behind, as SQLite leaves it after any crash, rather than holding up shutdown. It holds
    /// only committed transactions, and the next open reads it.
    public func close() throws(StoreError) {
        do {
            // GRDB closes the writer before the read-only readers, and the last connection to
            // close is the one SQLite lets checkpoint: without this, the WAL would stay behind.
            try pool.writeWithoutTransaction { [context] db in
                context.checkpointer.uninstall(from: db)
                context.checkpointer.close()
                context.statements.finalize()
                sqlite3_busy_timeout(db.sqliteConnection, 0)
                do {
                    try db.checkpoint(.truncate)
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                    // Another process reads; see above.
                }
            }
            try pool.close()
        } catch {
            throw StoreError(.unavailable, "cannot close archive: \(describe(error))", cause: error)
        }
    }

    // MARK: Migrations

    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for migration in Migrations.all {
            migrator.registerMigration(migration.id) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }()

    private func migrate(onMigration: (@Sendable (String, Duration?) -> Void)?) throws(StoreError) {
        do {
            if try pool.read({ db in try Self.migrator.hasBeenSuperseded(db) }) {
                throw StoreError(
                    .schemaTooNew,
                    "the archive at \(path) was written by a newer circle-archive (schema \(try reader.schemaVersion() ?? "?")); upgrade circle-archive"
                )
            }
            let applied = try pool.read { db in try Self.migrator.appliedIdentifiers(db) }
            // A new archive is migrated silently; an existing one hears what and how long. (One
            // call for all: GRDB refuses to migrate up to one that an archive has gone past.)
            let pending = Migrations.all.map(\.id).filter { !applied.contains($0) }.joined(separator: ", ")
            let announce = applied.isEmpty || pending.isEmpty ? nil : onMigration
            announce?(pending, nil)
            let started = ContinuousClock.now
            try Self.migrator.migrate(pool)
            announce?(pending, ContinuousClock.now - started)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.migrationFailed, "migration failed: \(describe(error))", cause: error)
        }
    }

    // MARK: The write path

    /// Archives one delivery: a parsed event is stored once per id and normalized into the
    /// entity tables; a body that cannot be parsed is kept in `rejected_deliveries`.
    /// Returns only after the transaction has committed.
    public func receive(_ delivery: Delivery) async throws(StoreError) -> DeliveryOutcome {
        try await receive(PreparedDelivery(delivery))
    }

    /// Archives a delivery prepared on the caller's thread. Concurrent calls share transactions
    /// (group commit, see `GroupCommit`), so many senders cost one fsync per batch, not one each.
    /// A retry of an event this store committed recently is answered at once, without the
    /// writer (see `RecentIDs`); any other duplicate is found by the writer's insert.
    public func receive(_ prepared: PreparedDelivery) async throws(StoreError) -> DeliveryOutcome {
        if case .event(let event, _) = prepared.content, context.recent.contains(event.id) {
            return .duplicate(id: event.id)
        }
        return try await groupCommit.submit([prepared])[0].get()
    }

    /// Archives deliveries in one transaction, so a batch costs one commit (one fsync with
    /// durable commits). Results are in the order of `deliveries`.
    public func receive(batch deliveries: [Delivery]) async -> [Result<DeliveryOutcome, StoreError>] {
        await commit(deliveries.map(PreparedDelivery.init))
    }

    /// The writer's half of `receive`: stores deliveries already parsed by `PreparedDelivery`,
    /// in one transaction (shared with whatever else is waiting, see `GroupCommit`). Callers that
    /// parse on their own threads (concurrent HTTP requests, an import reading ahead) keep the
    /// single writer busy with nothing but SQL.
    public func commit(_ prepared: [PreparedDelivery]) async -> [Result<DeliveryOutcome, StoreError>] {
        guard !prepared.isEmpty else { return [] }
        return await groupCommit.submit(prepared)
    }

    /// Commits one batch, blocking the calling thread (the group commit's queue).
    ///
    /// A delivery that fails does so alone: if anything in the batch fails, the transaction is
    /// rolled back and the deliveries are retried one transaction each, so the others still
    /// commit and only the failing one reports its error. (Savepoints per delivery would isolate
    /// failures too, but they make SQLite journal every page each delivery touches.)
    private static func commitNow(
        _ prepared: [PreparedDelivery],
        pool: DatabasePool,
        context: WriteContext
    ) -> [Result<DeliveryOutcome, StoreError>] {
        do {
            let started = ContinuousClock.now
            let outcomes = try pool.write { db in try archive(prepared, context: context, in: db) }
            context.committed(outcomes, in: ContinuousClock.now - started)
            afterCommit(pool: pool, context: context)
            return outcomes.map { .success($0) }
        } catch {
            guard prepared.count > 1 else { return [.failure(unavailable(error))] }
        }
        return prepared.map { delivery in
            do {
                let started = ContinuousClock.now
                let outcomes = try pool.write { db in try archive([delivery], context: context, in: db) }
                context.committed(outcomes, in: ContinuousClock.now - started)
                return .success(outcomes[0])
            } catch {
                return .failure(unavailable(error))
            }
        }
    }

    /// After each write transaction: finishes the checkpoint the background could not keep up
    /// with, so the WAL stays short (see `Checkpointer`).
    static func afterCommit(pool: DatabasePool, context: WriteContext) {
        if context.checkpointer.writerCommitted() {
            // Busy when the background checkpoint is running; the next commit tries again.
            try? pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        }
    }

    func afterCommit() { Self.afterCommit(pool: pool, context: context) }

    private static func unavailable(_ error: any Error) -> StoreError {
        StoreError(.unavailable, "cannot commit: \(describe(error))", cause: error)
    }

    /// Stores prepared deliveries inside the caller's transaction: each event is inserted unless
    /// its id is archived already, then the entities of the events inserted are merged (repeats
    /// folded together, see `EntityUpserts`). A duplicate changes nothing.
    private static func archive(
        _ deliveries: [PreparedDelivery],
        context: WriteContext,
        in db: Database
    ) throws -> [DeliveryOutcome] {
        var entities = EntityUpserts()
        var completedRuns = CompletedRuns(statements: context.statements)
        let outcomes = try deliveries.map { delivery throws -> DeliveryOutcome in
            switch delivery.content {
            case .event(let event, let payload):
                try context.statements.insertEvent(ArchivedEvent(event: event, payload: payload, receivedAt: delivery.receivedAt), in: db)
                guard db.changesCount > 0 else { return .duplicate(id: event.id) }
                entities.add(entitiesOf: event)
                let completesRun = try completedRuns.isFirstCompletion(by: event, in: db)
                if completesRun, context.queuesEnrichment, let entry = QueueEntry(completedBy: event, receivedAt: delivery.receivedAt) {
                    try context.statements.enqueue(entry, in: db)
                }
                return .stored(id: event.id, completesRun: completesRun)
            case .malformed(var rejection):
                rejection.receivedAt = delivery.receivedAt
                try db.cachedStatement(sql: Tables.insertRejected).execute(arguments: Tables.rejectedDeliveries.arguments(rejection))
                try enforce(context.rejectedLimit, in: db)
                return .rejected(reason: rejection.reason)
            }
        }
        for upsert in entities.upserts { try context.statements.upsert(upsert, in: db) }
        return outcomes
    }

    /// Keeps `rejected_deliveries` under its cap. Measuring reads lengths only, not bodies; the
    /// ordered delete runs only when a rejection went over.
    private static func enforce(_ limit: RejectedLimit, in db: Database) throws {
        guard let size = try Row.fetchOne(db.cachedStatement(sql: Tables.rejectedSize)) else { return }
        guard size[0] as Int > limit.rows || size[1] as Int > limit.bytes else { return }
        try db.cachedStatement(sql: Tables.dropOldestRejected).execute(arguments: [limit.bytes, limit.rows])
        try db.cachedStatement(sql: Tables.countDroppedRejected).execute(arguments: [db.changesCount])
    }
}

/// One HTTP delivery (or one line of an import), as received.
public struct Delivery: Sendable {
    public var body: [UInt8]
    /// Request headers in arrival order, kept with a rejected delivery for diagnosis.
    public var headers: [(name: String, value: String)]
    public var receivedAt: Timestamp

    public init(body: [UInt8], headers: [(name: String, value: String)] = [], receivedAt: Timestamp = .now()) {
        self.body = body
        self.headers = headers
        self.receivedAt = receivedAt
    }
}

public enum DeliveryOutcome: Sendable, Equatable {
    /// Committed for the first time. `completesRun` is true when the event is the first to give
    /// its workflow (a `workflow-completed` event) or its job (`job-completed`) a terminal status
    /// in the archive: cancelling a workflow sends several events, and counters of completed runs
    /// (`/metrics`) must count it once, as reports do.
    case stored(id: String, completesRun: Bool = false)
    /// That event id was archived already; nothing changed.
    case duplicate(id: String)
    /// The body is not an acceptable event; it was kept in `rejected_deliveries`.
    case rejected(reason: String)
}

/// A delivery parsed and encoded for storage, ready for `ArchiveStore.commit`. Preparing is pure
/// CPU work with no database access, so it can run on any thread.
public struct PreparedDelivery: Sendable {
    enum Content: Sendable {
        case event(WebhookEvent, payload: String)
        case malformed(Rejection)
    }

    let content: Content
    let receivedAt: String

    /// The parsed event; nil for a body that will be rejected.
    public var event: WebhookEvent? {
        if case .event(let event, _) = content { event } else { nil }
    }

    public init(_ delivery: Delivery) {
        self.init(body: delivery.body, headers: delivery.headers, receivedAt: delivery.receivedAt)
    }

    /// `headers` are evaluated only for a body that is rejected, the only case that keeps them.
    public init(body: [UInt8], headers: @autoclosure () -> [(name: String, value: String)], receivedAt: Timestamp = .now()) {
        self.receivedAt = receivedAt.iso8601
        do {
            let event = try WebhookEvent(parsing: body)
            // The parser accepted the body, so it is valid UTF-8 and decoding is lossless.
            content = .event(event, payload: String(decoding: body, as: UTF8.self))
        } catch {
            let headers = headers()
            let encodedHeaders = headers.map { "[\(JSONText.quoted($0.name)),\(JSONText.quoted($0.value))]" }
            content = .malformed(
                Rejection(
                    reason: error.reason,
                    eventType: headers.first { $0.name.lowercased() == "circleci-event-type" }?.value,
                    headers: "[" + encodedHeaders.joined(separator: ",") + "]",
                    body: body,
                    sha256: Hex.encode(SHA256.hash(data: body))
                )
            )
        }
    }
}

/// A short description of a GRDB or system error, without SQL arguments (which could hold
/// payload data) and without GRDB's type names.
func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError {
        return error.message ?? "SQLite error \(error.resultCode.rawValue)"
    }
    return "\(error)"
}
