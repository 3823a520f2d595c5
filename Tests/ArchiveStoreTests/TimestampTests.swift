import ArchiveModel
import ArchiveStore
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2021-09-01T22:49:34.317Z", "2021-09-01T22:49:34.317Z", "2021-09-01T22:49:34.317000Z"),
        ("2022-05-27T16:20:13.954328Z", "2022-05-27T16:20:13.954Z", "2022-05-27T16:20:13.954328Z"),
        ("2021-02-03T23:49:03Z", "2021-02-03T23:49:03.000Z", "2021-02-03T23:49:03.000000Z"),
        ("2022-04-13T11:10:16+00:00", "2022-04-13T11:10:16.000Z", "2022-04-13T11:10:16.000000Z"),
        ("2024-03-05T10:09:55+01:00", "2024-03-05T09:09:55.000Z", "2024-03-05T09:09:55.000000Z"),
        ("2024-03-05T00:30:00-02:30", "2024-03-05T03:00:00.000Z", "2024-03-05T03:00:00.000000Z"),
        ("2024-12-31T23:59:59.9999999z", "2024-12-31T23:59:59.999Z", "2024-12-31T23:59:59.999999Z"),
        ("2024-02-29 12:00:00.5Z", "2024-02-29T12:00:00.500Z", "2024-02-29T12:00:00.500000Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500Z", "1969-12-31T23:59:59.500000Z"),
        ("2000-03-01t00:00:00Z", "2000-03-01T00:00:00.000Z", "2000-03-01T00:00:00.000000Z"),
    ])
    func parsesAndCanonicalizesToUTC(input: String, milliseconds: String, microseconds: String) throws {
        let timestamp = try #require(Timestamp(iso8601: input))
        #expect(timestamp.iso8601 == milliseconds)
        #expect(timestamp.iso8601Microseconds == microseconds)
        #expect(Timestamp(iso8601: timestamp.iso8601Microseconds) == timestamp)
    }

    @Test(arguments: [
        "", "2021-09-01", "2021-09-01T22:49:34", "2021-09-01T22:49Z", "2021-13-01T00:00:00Z", "2021-02-29T00:00:00Z",
        "2021-04-31T00:00:00Z", "2021-09-01T24:00:00Z", "2021-09-01T23:60:00Z", "2021-09-01T23:59:60Z",
        "2021-09-01T22:49:34.Z", "2021-09-01T22:49:34.317", "2021-09-01T22:49:34+0100", "2021-09-01T22:49:34Z ",
        " 2021-09-01T22:49:34Z", "2021-9-01T22:49:34Z", "2021-09-01X22:49:34Z", "yesterday", "2021-09-01T22:49:34+25:00",
        "2024-12-18 17:23:29.361740256 +0000 UTC",
    ])
    func rejectsAnythingElse(input: String) {
        #expect(Timestamp(iso8601: input) == nil)
    }

    @Test func canonicalTextOrdersLikeTime() {
        let inputs = ["2024-03-05T10:09:55+01:00", "2024-03-05T09:09:55.5Z", "2024-03-05T09:09:55.05Z", "1999-12-31T23:59:59Z"]
        let timestamps = inputs.compactMap { Timestamp(iso8601: $0) }
        #expect(timestamps.count == inputs.count)
        #expect(timestamps.sorted().map(\.iso8601) == timestamps.map(\.iso8601).sorted())
        #expect(timestamps.sorted().map(\.iso8601Microseconds) == timestamps.map(\.iso8601Microseconds).sorted())
    }
}
