import Foundation

/// Another process holding SQLite's write lock, as a second writer would. Returns once the lock
/// is held: the process creates a marker file after `BEGIN IMMEDIATE` succeeded.
public func holdWriteLock(on path: String, seconds: Int) throws -> Process {
    try holdTransaction(on: path, beginning: ["BEGIN IMMEDIATE;"], seconds: seconds)
}

/// Another process in a read transaction, as a long `query`, a backup or Litestream's
/// replication lock would be: the WAL cannot be emptied while it lasts.
public func holdReadTransaction(on path: String, seconds: Int) throws -> Process {
    try holdTransaction(on: path, beginning: ["BEGIN;", "SELECT count(*) FROM events;"], seconds: seconds)
}

private func holdTransaction(on path: String, beginning: [String], seconds: Int) throws -> Process {
    let marker = path + ".locked-\(UUID().uuidString)"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sqlite3", path] + beginning + [".shell touch '\(marker)' && sleep \(seconds)", "ROLLBACK;"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(10)
    while !FileManager.default.fileExists(atPath: marker) {
        guard process.isRunning, Date() < deadline else { throw RawHTTPError(description: "sqlite3 did not take the lock") }
        usleep(10_000)
    }
    return process
}
