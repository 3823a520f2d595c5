import ArchiveTestSupport
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// Damaged payloads never crash the parser or the store and never make it fail: each one is either
/// stored consistently, answered as a duplicate, or rejected with the parser's own reason.
@Suite struct FuzzTests {
    @Test(arguments: [1 as UInt64, 2, 3, 4])
    func damagedPayloadsAreStoredConsistentlyOrRejected(seed: UInt64) async throws {
        let (store, _) = try makeStore(options: .init(durability: .normal))
        var mutator = PayloadMutator(seed: seed)
        var storedIDs: Set<String> = []
        var counts = (stored: 0, duplicate: 0, rejected: 0)
        for _ in 0..<600 {
            let body = mutator.next()
            let parsed = Result { () throws(MalformedEvent) in try WebhookEvent(parsing: body) }
            let outcome = try await store.receive(Delivery(body: body))
            switch (outcome, parsed) {
            case (.stored(let id, _), .success(let event)):
                counts.stored += 1
                #expect(id == event.id)
                #expect(storedIDs.insert(id).inserted)
                #expect(
                    try store.reader.value("SELECT payload FROM events WHERE id = ?", [.text(id)]) == .text(String(decoding: body, as: UTF8.self))
                )
                try expectEntities(of: event, in: store.reader)
            case (.duplicate(let id), .success(let event)):
                counts.duplicate += 1
                #expect(id == event.id)
                #expect(storedIDs.contains(id))
            case (.rejected(let reason), .failure(let error)):
                counts.rejected += 1
                #expect(reason == error.reason)
            default:
                Issue.record("outcome \(outcome) disagrees with the parser: \(parsed)")
            }
        }
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(Int64(storedIDs.count)))
        #expect(try store.reader.value("PRAGMA integrity_check") == .text("ok"))
        // The mix exercises both sides: most damage is survivable, some is not.
        #expect(counts.stored > 100 && counts.rejected > 50, "\(counts)")
    }

    /// Every entity an event names is a row, with the ids the event carries.
    private func expectEntities(of event: WebhookEvent, in reader: ArchiveReader) throws {
        let expected: [(table: String, id: String?)] = [
            ("organizations", event.organization?.id), ("projects", event.project?.id), ("pipelines", event.pipeline?.id),
            ("workflows", event.workflow?.id), ("jobs", event.job?.id),
        ]
        for (table, id) in expected {
            guard let id else { continue }
            #expect(try reader.value("SELECT count(*) FROM \(table) WHERE id = ?", [.text(id)]) == .integer(1), "\(table) \(id)")
        }
    }

    @Test func theParserSurvivesRandomBytes() {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in
                // Mostly JSON's own punctuation, so the parser gets past the first byte.
                Bool.random(using: &generator)
                    ? Array(#"{}[]:,"\ 0123456789eE.-+truefalsnl"#.utf8).randomElement(using: &generator)!
                    : UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? JSONValue(parsing: bytes)
        }
    }
}
