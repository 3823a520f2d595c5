import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A tmpfs of a few megabytes mounted on a fresh directory, for tests of a full or read-only
/// disk. Mounting needs root (CAP_SYS_ADMIN); tests using it are skipped where that is missing.
public final class SmallFilesystem: Sendable {
    public let url: URL
    private let size: String

    /// Whether this process may mount a tmpfs, probed once.
    public static let isAvailable: Bool = {
        guard let probe = try? SmallFilesystem(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    public init(megabytes: Int) throws {
        url = try makeTemporaryDirectory()
        size = "size=\(megabytes)m"
        guard mount("tmpfs", url.path, "tmpfs", 0, size) == 0 else {
            throw RawHTTPError(description: "mount tmpfs: \(String(cString: strerror(errno)))")
        }
    }

    /// Fills the free space with a file, so the next write that needs a new block fails with ENOSPC.
    public func fill() throws {
        let handle = try FileHandle(
            forWritingTo: { () -> URL in
                FileManager.default.createFile(atPath: filler.path, contents: nil)
                return filler
            }()
        )
        defer { try? handle.close() }
        let block = Data(repeating: 0xAB, count: 64 * 1024)
        while (try? handle.write(contentsOf: block)) != nil {}
        // Whatever is smaller than a block.
        let small = Data(repeating: 0xAB, count: 1024)
        while (try? handle.write(contentsOf: small)) != nil {}
    }

    /// Frees what `fill` took.
    public func free() throws {
        try FileManager.default.removeItem(at: filler)
    }

    /// Remounts read-only or read-write. Read-only fails (EBUSY) while a file is open for writing,
    /// so it is retried for a few seconds: a database just closed may release its files a moment later.
    public func remount(readOnly: Bool) throws {
        let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        let deadline = Date().addingTimeInterval(10)
        while mount("tmpfs", url.path, "tmpfs", flags, size) != 0 {
            guard errno == EBUSY, Date() < deadline else {
                throw RawHTTPError(description: "remount: \(String(cString: strerror(errno)))")
            }
            usleep(20_000)
        }
    }

    public func unmount() {
        umount2(url.path, Int32(MNT_DETACH))
    }

    private var filler: URL { url.appendingPathComponent("filler") }
}
