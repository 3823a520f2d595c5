import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveServer

struct HealthCheckTests {
    @Test func answersFromARecentCheckAndChecksAgainOnceItIsOld() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
        let store = try ArchiveStore(path: path)
        let cached = HealthCheck(reader: store.reader, maxAge: .seconds(3600))
        let fresh = HealthCheck(reader: store.reader, maxAge: .zero)
        #expect(await cached.check() == nil)
        #expect(await fresh.check() == nil)
        try store.close()
        // The database no longer answers: a fresh check says so; a recent result stands until it is old.
        #expect(await fresh.check()?.code == .unavailable)
        #expect(await cached.check() == nil)
    }
}
