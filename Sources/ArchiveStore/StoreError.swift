import ArchiveModel

/// An error from the archive's storage, with a stable code callers map to HTTP statuses and
/// exit codes. SQLite's own errors stay inside this module; their message travels in `message`.
public struct StoreError: ArchiveError {
    public enum Code: String, Sendable {
        /// The database file cannot be opened (missing, not a database, no permission).
        case cannotOpen
        /// The database cannot commit right now: locked by another process, disk full, read-only
        /// file, I/O error. Retrying later may succeed.
        case unavailable
        /// The SQL given to a read is invalid or tried to write.
        case invalidQuery
        /// A migration failed; the schema was left as it was before that migration.
        case migrationFailed
        /// The database was written by a newer circle-archive with migrations this build lacks.
        case schemaTooNew
        /// A reader that needs the newest schema found an archive not yet migrated to it.
        case schemaTooOld
        /// A file the store would create exists already; it is never overwritten.
        case destinationExists
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}
