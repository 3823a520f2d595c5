import Testing

@testable import ArchiveModel
@testable import ArchiveStore

struct EntityUpsertsTests {
    private func project(_ name: String) -> ProjectRecord {
        ProjectRecord(id: "p1", slug: "gh/acme/web", name: name, organizationID: "o1")
    }

    @Test func equalRecordsAreMergedOnceWithTheNewestKey() {
        var upserts = EntityUpserts()
        upserts.add(project("web"), key: "2024-03-05T10:00:00.000000Z b")
        upserts.add(project("web"), key: "2024-03-05T11:00:00.000000Z a")
        upserts.add(project("web"), key: "2024-03-05T09:00:00.000000Z c")
        upserts.add(project("renamed"), key: "2024-03-05T08:00:00.000000Z d")
        upserts.add(nil as ProjectRecord?, key: "ignored")
        #expect(upserts.upserts.map(\.key) == ["2024-03-05T11:00:00.000000Z a", "2024-03-05T08:00:00.000000Z d"])
        #expect(upserts.upserts.map { $0.values[2] } == [.text("web"), .text("renamed")])
    }

    @Test func textIsEqualOnlyByteForByte() {
        // Swift calls these two strings equal; SQLite stores two different values.
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        #expect(SQLValue.text(composed) != SQLValue.text(decomposed))
        var upserts = EntityUpserts()
        upserts.add(project(composed), key: "k1")
        upserts.add(project(decomposed), key: "k2")
        #expect(upserts.upserts.count == 2)
        // Keys compare as bytes too, the way SQLite's max() and > compare them.
        #expect(SQLValue.text("a") != .null && SQLValue.integer(1) != .text("1"))
    }
}
