import Foundation

/// Another process holding SQLite's write lock, as a second writer would. Returns once the lock
/// is held: the process creates a marker file after `BEGIN IMMEDIATE` succeeded.
public func holdWriteLock(on path: String, seconds: Int) throws -> Process {
    let marker = path + ".locked-\(UUID().uuidString)"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sqlite3", path, "BEGIN IMMEDIATE;", ".shell touch '\(marker)' && sleep \(seconds)", "ROLLBACK;"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(10)
    while !FileManager.default.fileExists(atPath: marker) {
        guard process.isRunning, Date() < deadline else { throw RawHTTPError(description: "sqlite3 did not take the lock") }
        usleep(10_000)
    }
    return process
}
