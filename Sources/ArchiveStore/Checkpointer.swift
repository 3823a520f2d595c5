import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the WAL back into the database file on a connection and thread of its own, so the
/// writer does not stop to do it.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that commit
/// (and every delivery waiting behind it) pays for copying the pages and syncing the database
/// file. Measured at 64 connections on 2 cores, that was about 40% of the writer's commit time.
/// Here the writer only reports how long the WAL is after each commit (the WAL hook `install`
/// registers); past `backgroundFrames` a passive checkpoint starts on the checkpointer's connection
/// while the writer goes on. A passive checkpoint never blocks the writer, but under a steady load
/// it ends a little behind the WAL's end, and SQLite starts the WAL over only once every frame is
/// copied; so past `writerFrames` the writer itself copies that short remainder (when
/// `writerCommitted()` says so), which lets the next transaction start the WAL from the top
/// instead of growing the file.
final class Checkpointer: Sendable {
    /// WAL length (pages) that starts a background checkpoint: SQLite's own default.
    static let backgroundFrames = 1000
    /// WAL length past which the writer finishes the checkpoint itself (4,000 pages, about 16 MiB:
    /// the longest the WAL gets under a steady load).
    static let writerFrames = 4000

    private struct State {
        var connection: OpaquePointer?
        var running = false
        var again = false
    }

    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "circle-archive.checkpoint")
    /// Frames in the WAL after the writer's last commit, set by the WAL hook.
    let walFrames = Atomic<Int>(0)

    /// Opens the checkpointer's connection to the archive at `path`.
    init(path: String) throws(StoreError) {
        var connection: OpaquePointer?
        let code = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "SQLite error \(code)"
            sqlite3_close(connection)
            throw StoreError(.cannotOpen, "cannot open archive at \(path) for checkpoints: \(message)")
        }
        // A new connection learns that the database is in WAL mode when it first reads it; until
        // then a checkpoint on it does nothing.
        sqlite3_exec(connection, "SELECT count(*) FROM sqlite_schema", nil, nil, nil)
        state = Mutex(State(connection: connection))
    }

    /// Registers `walHook` on the writer connection (which also turns off SQLite's automatic
    /// checkpoint there). The checkpointer must outlive the connection or unregister first.
    func install(on writer: Database) {
        sqlite3_wal_hook(
            writer.sqliteConnection,
            { context, _, _, frames in
                let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue()
                checkpointer.walFrames.store(Int(frames), ordering: .relaxed)
                return SQLITE_OK
            },
            Unmanaged.passUnretained(self).toOpaque()
        )
    }

    func uninstall(from writer: Database) {
        sqlite3_wal_hook(writer.sqliteConnection, nil, nil)
    }

    /// Called by the writer after each commit: starts a background checkpoint when the WAL is long,
    /// and says whether the writer should finish one itself.
    func writerCommitted() -> Bool {
        let frames = walFrames.load(ordering: .relaxed)
        if frames >= Self.backgroundFrames { request() }
        return frames >= Self.writerFrames
    }

    private func request() {
        let start = state.withLock { state in
            guard state.connection != nil else { return false }
            guard !state.running else {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        if start { queue.async { self.checkpointWhileRequested() } }
    }

    private func checkpointWhileRequested() {
        while true {
            let connection = state.withLock { state -> OpaquePointer? in
                state.again = false
                return state.connection
            }
            // Busy (another checkpoint or a closing connection) or failing: the next request retries,
            // and the writer's own checkpoint is the backstop.
            if let connection { sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) }
            let done = state.withLock { state in
                if state.again, state.connection != nil { return false }
                state.running = false
                return true
            }
            if done { return }
        }
    }

    /// Waits for a running checkpoint and closes the connection; later requests do nothing.
    func close() {
        let connection = state.withLock { state in
            defer { state.connection = nil }
            return state.connection
        }
        // close_v2 always succeeds: it defers the close until the last statement is finalized.
        queue.sync { _ = sqlite3_close_v2(connection) }
    }

    /// A store that was never closed (or failed to open) still releases the connection. A running
    /// checkpoint holds a reference, so this never runs during one.
    deinit {
        sqlite3_close_v2(state.withLock { $0.connection })
    }
}
