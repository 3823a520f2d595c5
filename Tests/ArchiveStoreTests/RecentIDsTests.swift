import Testing

@testable import ArchiveStore

struct RecentIDsTests {
    @Test func onlyLowercaseCanonicalUUIDsHaveKeys() {
        #expect(RecentIDs.key("3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c") == 0x3c1e8a2f_7b6d_4e59_a0c4_5d2f1b9e8a7c)
        #expect(RecentIDs.key("00000000-0000-0000-0000-000000000000") == 0)
        // Different strings must never share a key, so every other spelling is left out.
        for id in [
            "3C1E8A2F-7B6D-4E59-A0C4-5D2F1B9E8A7C", "3c1e8a2f7b6d4e59a0c45d2f1b9e8a7c", "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7",
            "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c0", "3c1e8a2f-7b6d-4e59-a0c4_5d2f1b9e8a7c", "3c1e8a2f-7b6d-4e5g-a0c4-5d2f1b9e8a7c",
            "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a-c", "{c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7}", "", "evt-1",
        ] {
            #expect(RecentIDs.key(id) == nil, "\(id)")
        }
    }

    @Test func keepsTheNewestIdsUpToItsCapacity() {
        let ids = (0..<5).map { "00000000-0000-0000-0000-00000000000\($0)" }
        let recent = RecentIDs(capacity: 3)
        recent.insert(ids[0..<2])
        recent.insert(ids[2..<4] + [ids[2]])  // an id seen again takes no second place
        #expect(ids.map(recent.contains) == [false, true, true, true, false])
        recent.insert([ids[4], "not-a-uuid"])
        #expect(ids.map(recent.contains) == [false, false, true, true, true])
        #expect(!recent.contains("not-a-uuid"))
    }
}
