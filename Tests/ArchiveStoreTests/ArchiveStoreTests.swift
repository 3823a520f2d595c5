import ArchiveMigrations
import ArchiveTestSupport
import Foundation
import Testing

@testable import ArchiveModel
@testable import ArchiveStore

/// A store on a fresh file in its own temporary directory.
func makeStore(options: ArchiveStore.Options = .init()) throws -> (ArchiveStore, String) {
    let path = try makeTemporaryDirectory().appendingPathComponent("archive.sqlite").path
    return (try ArchiveStore(path: path, options: options), path)
}

extension ArchiveStore {
    func receive(_ text: String) async throws -> DeliveryOutcome {
        try await receive(Delivery(body: Array(text.utf8)))
    }
}

extension ArchiveReader {
    /// All rows of a statement, for assertions.
    func rows(_ sql: String, _ arguments: [SQLValue] = []) throws -> [[SQLValue]] {
        var collector = RowCollector()
        try query(sql, arguments: arguments, into: &collector)
        return collector.rows
    }

    func value(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLValue? {
        try rows(sql, arguments).first?.first
    }
}

@Suite struct ArchiveStoreTests {
    @Test func embeddedMigrationsMatchTheMigrationsFolder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../migrations").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(Migrations.all.map { $0.id + ".sql" } == files)
        for migration in Migrations.all {
            let onDisk = try String(contentsOf: folder.appendingPathComponent(migration.id + ".sql"), encoding: .utf8)
            #expect(migration.sql == onDisk, "\(migration.id) differs from the embedded copy")
        }
        #expect(Migrations.all.map(\.id) == Migrations.all.map(\.id).sorted())
    }

    @Test func openingMigratesAndRecordsTheSchemaVersion() throws {
        let (store, path) = try makeStore()
        #expect(try store.reader.schemaVersion() == Migrations.all.last?.id)
        try store.close()
        let reopened = try ArchiveStore(path: path)
        #expect(try reopened.reader.value("SELECT count(*) FROM grdb_migrations") == .integer(Int64(Migrations.all.count)))
    }

    @Test func refusesAnArchiveFromANewerVersion() throws {
        let (store, path) = try makeStore()
        try store.close()
        try execute("INSERT INTO grdb_migrations VALUES ('9999_future')", on: path)
        #expect {
            try ArchiveStore(path: path)
        } throws: { error in
            (error as? StoreError)?.code == .schemaTooNew
        }
    }

    @Test func durableCommitsAreTheDefaultAndNormalIsAnOption() throws {
        let (full, _) = try makeStore()
        #expect(try full.writerSynchronousSetting() == 2, "FULL")
        let (normal, _) = try makeStore(options: .init(durability: .normal))
        #expect(try normal.writerSynchronousSetting() == 1, "NORMAL")
        #expect(try full.reader.value("PRAGMA journal_mode") == .text("wal"))
    }

    @Test func storesAnEventOnceAndReportsDuplicates() async throws {
        let (store, _) = try makeStore()
        let event = Fixtures.jobCompleted()
        #expect(try await store.receive(event) == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        #expect(try await store.receive(event) == .duplicate(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"))
        // The same id with other content changes nothing either.
        #expect(try await store.receive(Fixtures.jobCompleted(status: "failed")) == .duplicate(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"))
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(1))
        #expect(try store.reader.value("SELECT status FROM jobs") == .text("success"))
        #expect(try store.reader.value("SELECT payload FROM events") == .text(event))
    }

    @Test func normalizesEventsIntoTablesAndViews() async throws {
        let (store, _) = try makeStore()
        for event in [Fixtures.ping, Fixtures.jobCompleted(), Fixtures.workflowCompleted(), Fixtures.gitlabJobCompleted, Fixtures.futureEvent] {
            _ = try await store.receive(event)
        }
        let reader = store.reader
        #expect(try reader.value("SELECT count(*) FROM events") == .integer(5))
        #expect(try reader.rows("SELECT name FROM organizations ORDER BY name") == [[.text("acme")], [.text("acme-gitlab")]])
        #expect(try reader.value("SELECT count(*) FROM pipelines") == .integer(3))
        let job = try reader.rows(
            """
            SELECT job_name, job_status, job_number, duration_seconds, workflow_name, pipeline_number, project_slug,
                   project_name, organization_name, branch, revision, trigger_type, started_at
            FROM job_runs WHERE job_id = 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f'
            """
        )
        #expect(
            job == [
                [
                    .text("test"), .text("success"), .integer(136), .real(65.329), .text("build-test-deploy"), .integer(130),
                    .text("gh/acme/widgets"), .text("widgets"), .text("acme"), .text("main"),
                    .text("1dc6aa69429bff4806ad6afe58d3d8f57e25973e"), .text("webhook"), .text("2024-03-05T10:11:28.841Z"),
                ]
            ]
        )
        let workflow = try reader.rows(
            "SELECT workflow_status, duration_seconds, branch FROM workflow_runs WHERE workflow_id = ?",
            [.text(Fixtures.workflowID)]
        )
        #expect(workflow == [[.text("success"), .real(270.554), .text("main")]])
        let gitlab = try reader.rows("SELECT branch, job_status, workflow_name FROM job_runs WHERE job_name = 'say-hello'")
        #expect(gitlab == [[.text("release"), .text("failed"), .text("build")]])
        #expect(try reader.value("SELECT count(*) FROM workflows") == .integer(2), "the future event type adds no workflow")
    }

    @Test func durationIsNullWhenABoundIsUnknown() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.jobCompleted(startedAt: nil))
        #expect(try store.reader.rows("SELECT duration_seconds, typeof(duration_seconds) FROM job_runs") == [[.null, .text("null")]])
    }

    @Test func anOlderEventNeverOverwritesNewerData() async throws {
        let (store, _) = try makeStore()
        let newer = Fixtures.workflowCompleted(id: "e2", happenedAt: "2024-03-05T10:20:00Z", status: "failed", stoppedAt: "2024-03-05T10:19:59.000Z")
        let older = Fixtures.workflowCompleted(id: "e1", happenedAt: "2024-03-05T10:15:00Z", status: "success", stoppedAt: "2024-03-05T10:14:59.000Z")
        _ = try await store.receive(newer)
        _ = try await store.receive(older)
        #expect(try store.reader.rows("SELECT status, stopped_at FROM workflows") == [[.text("failed"), .text("2024-03-05T10:19:59.000Z")]])
    }

    @Test func aJobEventNeverErasesAKnownWorkflowStatus() async throws {
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.workflowCompleted(happenedAt: "2024-03-05T10:14:34.317Z"))
        // Newer, but its workflow map has no status and no stopped_at.
        _ = try await store.receive(Fixtures.jobCompleted(id: "late-job", happenedAt: "2024-03-05T10:30:00Z"))
        #expect(try store.reader.rows("SELECT status, stopped_at FROM workflows") == [[.text("success"), .text("2024-03-05T10:14:34.170Z")]])
    }

    /// Cancelling a workflow with N running jobs sends N+1 workflow-completed events with growing
    /// stopped_at, and job-completed events whose workflow map may lack stopped_at.
    static func cancelledWorkflowEvents() -> [String] {
        var events: [String] = []
        for index in 0..<4 {
            events.append(
                Fixtures.workflowCompleted(
                    id: "cancel-\(index)",
                    happenedAt: "2024-03-05T11:00:0\(index).000Z",
                    workflowID: "wf-cancelled",
                    status: "canceled",
                    stoppedAt: "2024-03-05T11:00:0\(index).000Z"
                )
            )
        }
        for index in 0..<3 {
            events.append(
                Fixtures.jobCompleted(
                    id: "cancel-job-\(index)",
                    happenedAt: "2024-03-05T11:00:0\(index).500Z",
                    jobID: "job-c\(index)",
                    number: 200 + index,
                    name: "shard-\(index)",
                    status: "canceled",
                    workflowID: "wf-cancelled",
                    workflowStoppedAt: index == 0 ? "2024-03-05T11:00:00.400Z" : nil
                )
            )
        }
        // Newest of all, and without any workflow stopped_at or status.
        events.append(
            Fixtures.jobCompleted(
                id: "cancel-job-last",
                happenedAt: "2024-03-05T11:00:09.000Z",
                jobID: "job-c9",
                number: 209,
                name: "lint",
                status: "canceled",
                workflowID: "wf-cancelled"
            )
        )
        return events
    }

    @Test func aCancelledWorkflowEndsWithTheLastStoppedAt() async throws {
        for order in [Self.cancelledWorkflowEvents(), Self.cancelledWorkflowEvents().reversed()] {
            let (store, _) = try makeStore()
            for event in order { _ = try await store.receive(event) }
            #expect(
                try store.reader.rows("SELECT status, stopped_at FROM workflows WHERE id = 'wf-cancelled'")
                    == [[.text("canceled"), .text("2024-03-05T11:00:03.000Z")]]
            )
        }
    }

    /// The four workflow-completed events of one cancelled workflow complete one workflow; each
    /// job completes once: whichever order they come in, one event at a time or all in one batch.
    @Test func eachRunIsCompletedByOneEventInAnyOrderAndBatching() async throws {
        var generator = SeededGenerator(seed: 14)
        let events = Self.cancelledWorkflowEvents()
        for (order, batched) in [(events, false), (events.reversed(), false), (events.shuffled(using: &generator), true), (events, true)] {
            let (store, _) = try makeStore()
            var outcomes: [DeliveryOutcome] = []
            if batched {
                outcomes = try await store.receive(batch: order.map { Delivery(body: Array($0.utf8)) }).map { try $0.get() }
            } else {
                for event in order { outcomes.append(try await store.receive(event)) }
            }
            let completing = outcomes.compactMap { outcome -> String? in
                guard case .stored(let id, true) = outcome else { return nil }
                return id.hasPrefix("cancel-job") ? id : "a workflow event"
            }
            #expect(completing.sorted() == ["a workflow event", "cancel-job-0", "cancel-job-1", "cancel-job-2", "cancel-job-last"])
        }
        // A run the archive holds as finished (from backfill, say) is not completed again.
        let (store, _) = try makeStore()
        _ = try await store.receive(Fixtures.workflowCompleted(id: "first"))
        #expect(try await store.receive(Fixtures.workflowCompleted(id: "second", happenedAt: "2024-03-05T10:15:00Z")) == .stored(id: "second"))
        #expect(try await store.receive(Fixtures.ping) == .stored(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"), "no run to complete")
    }

    @Test func anyArrivalOrderGivesTheSameTables() async throws {
        let events =
            Self.cancelledWorkflowEvents() + [
                Fixtures.ping, Fixtures.jobCompleted(), Fixtures.workflowCompleted(), Fixtures.gitlabWorkflowCompleted,
                Fixtures.gitlabJobCompleted, Fixtures.githubAppJobCompleted, Fixtures.futureEvent,
                Fixtures.jobCompleted(id: "second-webhook-copy", jobID: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"),
                // Two events with the same happened_at that disagree: the event id breaks the tie.
                Fixtures.workflowCompleted(id: "tie-a", happenedAt: "2024-03-05T12:00:00Z", workflowID: "wf-tie", status: "failed"),
                Fixtures.workflowCompleted(id: "tie-b", happenedAt: "2024-03-05T12:00:00Z", workflowID: "wf-tie", status: "success"),
            ]
        var generator = SeededGenerator(seed: 20_241_123)
        var reference: [String: [[SQLValue]]]?
        for round in 0..<18 {
            let order = round == 0 ? events : events.shuffled(using: &generator)
            let (store, _) = try makeStore()
            // One transaction per event, all in one, or chunks: a batch folds equal entity records
            // together (EntityUpserts), which must not change the result.
            let chunk = [1, order.count, Int.random(in: 2...5, using: &generator)][round % 3]
            for start in stride(from: 0, to: order.count, by: chunk) {
                let deliveries = order[start..<min(start + chunk, order.count)].map { Delivery(body: Array($0.utf8)) }
                for result in await store.receive(batch: deliveries) { _ = try result.get() }
            }
            let tables = try dumpEntityTables(store.reader)
            if let reference {
                #expect(tables == reference, "order \(round) produced different tables")
            } else {
                reference = tables
                #expect(tables["workflows"]?.count == 5)
            }
        }
        #expect(reference?["workflows"]?.contains { $0.contains(.text("wf-tie")) && $0.contains(.text("success")) } == true)
    }

    @Test func aBatchCommitsTogetherAndAnswersEachDeliveryInOrder() async throws {
        let (store, _) = try makeStore()
        let batch = [Fixtures.jobCompleted(), "{not json", Fixtures.ping, Fixtures.jobCompleted(), Fixtures.workflowCompleted()]
        let results = await store.receive(batch: batch.map { Delivery(body: Array($0.utf8)) })
        let outcomes = try results.map { try $0.get() }
        #expect(outcomes.count == 5)
        #expect(outcomes[0] == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        guard case .rejected = outcomes[1] else {
            Issue.record("expected a rejection, got \(outcomes[1])")
            return
        }
        #expect(outcomes[2] == .stored(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        #expect(outcomes[3] == .duplicate(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"), "a repeat inside one batch is a duplicate")
        #expect(outcomes[4] == .stored(id: "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", completesRun: true))
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(3))
        #expect(try store.reader.value("SELECT count(*) FROM rejected_deliveries") == .integer(1))
        #expect(await store.receive(batch: []).isEmpty)
    }

    @Test func aDeliveryThatCannotBeStoredFailsAloneInItsBatch() async throws {
        let (store, path) = try makeStore()
        // Another process installs a trigger that refuses one event id, as a broken disk page or
        // a constraint would refuse one write.
        try execute("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END", on: path)
        let batch = [Fixtures.ping, Fixtures.jobCompleted(id: "poison"), Fixtures.workflowCompleted(), "{bad"]
        let results = await store.receive(batch: batch.map { Delivery(body: Array($0.utf8)) })
        #expect(try results[0].get() == .stored(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        #expect(throws: StoreError.self) { try results[1].get() }
        #expect(try results[2].get() == .stored(id: "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", completesRun: true))
        guard case .rejected = try results[3].get() else {
            Issue.record("expected a rejection, got \(results[3])")
            return
        }
        #expect(
            try store.reader.rows("SELECT id FROM events ORDER BY id") == [
                [.text("3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c")], [.text("e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7")],
            ]
        )
        #expect(try store.reader.value("SELECT count(*) FROM jobs") == .integer(0), "nothing of the failed event remains")
    }

    @Test func malformedBodiesAreKeptAsRejectedDeliveries() async throws {
        let (store, _) = try makeStore()
        let body: [UInt8] = [0x7B, 0xFF, 0x7D]
        let outcome = try await store.receive(Delivery(body: body, headers: [("circleci-event-type", "job-completed"), ("x-a", "\"q\"")]))
        guard case .rejected(let reason) = outcome else {
            Issue.record("expected a rejection, got \(outcome)")
            return
        }
        #expect(reason.contains("invalid JSON"))
        let rows = try store.reader.rows("SELECT reason, event_type, headers, body FROM rejected_deliveries")
        #expect(rows == [[.text(reason), .text("job-completed"), .text(#"[["circleci-event-type","job-completed"],["x-a","\"q\""]]"#), .blob(body)]])
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(0))
        // The same body again, as a retry would send it: one row, two attempts, newest headers.
        _ = try await store.receive(Delivery(body: body, headers: [("x-b", "2")], receivedAt: Timestamp(iso8601: "2030-01-01T00:00:00Z")!))
        #expect(
            try store.reader.rows("SELECT attempts, headers, last_received_at FROM rejected_deliveries")
                == [[.integer(2), .text(#"[["x-b","2"]]"#), .text("2030-01-01T00:00:00.000Z")]]
        )
    }

    @Test func rejectedDeliveriesAreCappedOldestFirstAndDropsAreCounted() async throws {
        let (store, _) = try makeStore(options: .init(rejectedLimit: .init(bytes: 1_000, rows: 3)))
        var second = 0
        func reject(_ n: Int, size: Int = 10) async throws {
            let body = Array("broken \(n) ".utf8) + Array(repeating: UInt8(ascii: "x"), count: size)
            second += 1
            let at = Timestamp(microseconds: 1_900_000_000_000_000 + Int64(second) * 1_000_000)
            _ = try await store.receive(Delivery(body: body, receivedAt: at))
        }
        func kept() throws -> [String] {
            try store.reader.rows("SELECT substr(body, 1, 9) FROM rejected_deliveries ORDER BY last_received_at").map {
                guard case .blob(let bytes) = $0[0] else { return "?" }
                return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }
        }
        func dropped() throws -> SQLValue? {
            try store.reader.value("SELECT value FROM archive_counters WHERE name = 'rejected_deliveries_dropped'")
        }
        for n in 1...3 { try await reject(n) }
        #expect(try kept() == ["broken 1", "broken 2", "broken 3"])
        #expect(try dropped() == .integer(0))
        // A fourth row goes over the row cap: the oldest goes.
        try await reject(4)
        #expect(try kept() == ["broken 2", "broken 3", "broken 4"])
        // A retry of a kept body is the newest attempt again, so it outlives the others.
        try await reject(2)
        try await reject(5)
        #expect(try kept() == ["broken 4", "broken 2", "broken 5"])
        // A large body (971 bytes with its 2 bytes of headers, against a cap of 1,000) goes over the
        // byte cap: as many of the oldest go as it takes, here two of the 21-byte ones.
        try await reject(6, size: 960)
        #expect(try kept() == ["broken 5", "broken 6"])
        #expect(try dropped() == .integer(4))
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(0))
    }

    /// Both shapes a read-only archive comes in: closed cleanly (SQLite cannot even open it in WAL
    /// mode) and left with a WAL by a crash (SQLite opens it read-only without complaint).
    @Test(.enabled(if: SmallFilesystem.isAvailable, "mounting a tmpfs needs root"), arguments: [false, true])
    func aReadOnlyArchiveIsRefusedAtOpenAndOpensOnceWritable(withWAL: Bool) async throws {
        let (original, originalPath) = try makeStore()
        #expect(try await original.receive(Fixtures.ping) == .stored(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        if !withWAL { try original.close() }
        let disk = try SmallFilesystem(megabytes: 4)
        defer { disk.unmount() }
        let path = disk.url.appendingPathComponent("archive.sqlite").path
        try FileManager.default.copyItem(atPath: originalPath, toPath: path)
        if withWAL {
            try FileManager.default.copyItem(atPath: originalPath + "-wal", toPath: path + "-wal")
            #expect(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0 > 0)
        }
        try disk.remount(readOnly: true)
        #expect {
            try ArchiveStore(path: path)
        } throws: { error in
            let error = error as? StoreError
            return error?.code == .cannotOpen && error?.message.contains("is read-only") == true
        }
        try disk.remount(readOnly: false)
        let reopened = try ArchiveStore(path: path)
        #expect(try await reopened.receive(Fixtures.ping) == .duplicate(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        #expect(try await reopened.receive(Fixtures.jobCompleted()) == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        try reopened.close()
    }

    @Test func concurrentDeliveriesShareTransactions() async throws {
        let (store, _) = try makeStore()
        let count = 256
        let outcomes = await withTaskGroup(of: DeliveryOutcome?.self) { group in
            for n in 0..<count {
                group.addTask { try? await store.receive(Fixtures.jobCompleted(id: "group-\(n)", jobID: "job-\(n)", number: n)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { if case .stored = $0 { true } else { false } }.count == count)
        let statistics = store.commitStatistics
        #expect(statistics.deliveries == count)
        // One fsync per transaction: far fewer transactions than deliveries.
        #expect(statistics.transactions < count / 2, "\(statistics)")
        #expect(try store.reader.value("SELECT count(*) FROM jobs") == .integer(Int64(count)))
    }

    @Test func aDuplicateIsAnsweredWithoutTheWriter() async throws {
        let (store, path) = try makeStore(options: .init(busyTimeout: 0.2))
        #expect(try await store.receive(Fixtures.ping) == .stored(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        let before = store.commitStatistics
        // Another process holds the write lock: a new event cannot commit, a duplicate needs not.
        let lock = try await blockingWork { try holdWriteLock(on: path, seconds: 6) }
        #expect(try await store.receive(Fixtures.ping) == .duplicate(id: "3c1e8a2f-7b6d-4e59-a0c4-5d2f1b9e8a7c"))
        await #expect(throws: StoreError.self) { try await store.receive(Fixtures.jobCompleted()) }
        #expect(store.commitStatistics == before)
        try await blockingWork { lock.waitUntilExit() }
    }

    @Test func aDuplicateFromAnotherWriterIsFoundByTheInsert() async throws {
        // The second store (think: `import` in another process) has never seen the id, so the
        // delivery takes the write path, whose insert finds the duplicate and changes nothing.
        let (store, path) = try makeStore()
        let other = try ArchiveStore(path: path)
        #expect(try await other.receive(Fixtures.jobCompleted()) == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        #expect(try await store.receive(Fixtures.jobCompleted()) == .duplicate(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"))
        #expect(store.commitStatistics.transactions == 1)
        // Now it is known: the next retry does not reach the writer.
        #expect(try await store.receive(Fixtures.jobCompleted()) == .duplicate(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e"))
        #expect(store.commitStatistics.transactions == 1)
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(1))
        try other.close()
    }

    @Test func aLongWALIsCopiedInTheBackground() async throws {
        let (store, path) = try makeStore()
        func databaseFileSize() throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int }
        let before = try databaseFileSize()
        var batch = 0
        // Until a commit takes the WAL past the background threshold, short of the point where
        // the writer checkpoints itself.
        repeat {
            let deliveries = (0..<10).map { n in
                let id = batch * 10 + n
                return Delivery(body: Array(Fixtures.jobCompleted(id: "bg-\(id)", jobID: "job-\(id)", number: id).utf8))
            }
            for result in await store.receive(batch: deliveries) { _ = try result.get() }
            batch += 1
        } while store.walFrames < Checkpointer.backgroundFrames
        #expect(store.walFrames < Checkpointer.writerFrames)
        // Only a checkpoint writes the database file; nothing else is running that could.
        var grown = false
        for _ in 0..<100 where !grown {
            try await Task.sleep(for: .milliseconds(50))
            grown = try databaseFileSize() > before
        }
        #expect(grown, "the database file stayed at \(before) bytes")
        try store.close()
    }

    @Test func theWALStaysShortUnderSteadyWrites() async throws {
        let (store, path) = try makeStore()
        var largestWAL = 0
        var largestFrames = 0
        // About 18,000 pages of WAL in all: twice the most the WAL may hold.
        for batch in 0..<600 {
            let deliveries = (0..<10).map { n in
                let id = batch * 10 + n
                return Delivery(body: Array(Fixtures.jobCompleted(id: "wal-\(id)", jobID: "job-\(id)", number: id).utf8))
            }
            for result in await store.receive(batch: deliveries) { _ = try result.get() }
            largestFrames = max(largestFrames, store.walFrames)
            let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber
            largestWAL = max(largestWAL, wal?.intValue ?? 0)
        }
        // The writer reports the WAL's length after each commit (the checkpointer's trigger), and
        // checkpoints keep it from growing past the point where the writer finishes one itself.
        #expect(largestFrames >= Checkpointer.backgroundFrames, "\(largestFrames)")
        #expect(largestWAL <= (Checkpointer.writerFrames + 1000) * (4096 + 24), "\(largestWAL) bytes, \(largestFrames) frames")
        #expect(try store.reader.value("SELECT count(*) FROM jobs") == .integer(6000))
        try store.close()
    }

    @Test func closingLeavesTheWholeArchiveInTheDatabaseFile() async throws {
        let (store, path) = try makeStore()
        #expect(try await store.receive(Fixtures.jobCompleted()) == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        try store.close()
        let wal = try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber
        #expect((wal?.intValue ?? 0) == 0)
        // The file alone, copied without its WAL, is the whole archive.
        let copy = try makeTemporaryDirectory().appendingPathComponent("copy.sqlite").path
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        #expect(try ArchiveReader.open(path: copy).value("SELECT count(*) FROM jobs") == .integer(1))
    }

    /// Another process reading (a long query, Litestream) keeps the WAL from being emptied: closing
    /// leaves it behind, without waiting and without an error, and the next open uses it.
    @Test func closingWhileAnotherProcessReadsLeavesTheWALAndLosesNothing() async throws {
        let (store, path) = try makeStore()
        #expect(try await store.receive(Fixtures.jobCompleted()) == .stored(id: "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e", completesRun: true))
        let reading = try holdReadTransaction(on: path, seconds: 6)
        #expect(try await store.receive(Fixtures.workflowCompleted()) == .stored(id: "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", completesRun: true))
        let started = ContinuousClock.now
        try await blockingWork { try store.close() }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(reading.isRunning, "the reader was still reading while the store closed")
        try await blockingWork { reading.waitUntilExit() }
        let reopened = try ArchiveStore(path: path)
        #expect(try reopened.reader.value("SELECT count(*) FROM events") == .integer(2))
        try reopened.close()
    }

    @Test func valuesThatLookLikeSQLAreStoredVerbatim() async throws {
        let (store, _) = try makeStore()
        let hostile = "x'); DROP TABLE events; --"
        // In the JSON body the job id is `j'\"; …`, which decodes to `j'"; …`.
        let body = Fixtures.jobCompleted(id: hostile, jobID: "j'\\\"; DELETE FROM jobs; --", name: "Robert'); DROP TABLE jobs;--")
        #expect(try await store.receive(body) == .stored(id: hostile, completesRun: true))
        #expect(try store.reader.value("SELECT id FROM events") == .text(hostile))
        #expect(try store.reader.rows("SELECT id, name FROM jobs") == [[.text("j'\"; DELETE FROM jobs; --"), .text("Robert'); DROP TABLE jobs;--")]])
    }

    @Test func aBackupTakenWhileTheStoreWritesIsAConsistentArchive() async throws {
        let (store, _) = try makeStore()
        let writer = Task {
            for round in 0..<40 {
                let batch = (0..<25).map { index in
                    Delivery(body: Array(Fixtures.jobCompleted(id: "e-\(round)-\(index)", jobID: "j-\(round)-\(index)").utf8))
                }
                _ = await store.receive(batch: batch)
            }
        }
        let copy = try makeTemporaryDirectory().appendingPathComponent("copy.sqlite").path
        try await Task.sleep(for: .milliseconds(20))
        try store.reader.backup(to: copy)
        await writer.value
        let backup = try ArchiveReader.open(path: copy)
        #expect(try backup.value("PRAGMA integrity_check") == .text("ok"))
        let events = try backup.value("SELECT count(*) FROM events")
        // Batches commit whole: the copy holds whole batches, and every job has its event.
        if case .integer(let count) = events { #expect(count % 25 == 0) }
        #expect(try backup.value("SELECT count(*) FROM jobs") == events)
        #expect(try backup.value("SELECT count(*) FROM jobs WHERE id NOT IN (SELECT job_id FROM events)") == .integer(0))
        #expect(try store.reader.value("SELECT count(*) FROM events") == .integer(1000))
    }

    @Test func readersCannotWrite() async throws {
        let (store, path) = try makeStore()
        _ = try await store.receive(Fixtures.ping)
        let reader = try ArchiveReader.open(path: path)
        for statement in ["DELETE FROM events", "DROP TABLE events", "INSERT INTO organizations VALUES ('a','b','c')", "PRAGMA user_version = 3"] {
            #expect(throws: StoreError.self) { try reader.rows(statement) }
        }
        #expect(try reader.value("SELECT count(*) FROM events") == .integer(1))
        #expect(try reader.value("PRAGMA integrity_check") == .text("ok"))
        #expect(try reader.rows("WITH t(x) AS (VALUES (1), (2)) SELECT sum(x) FROM t") == [[.integer(3)]])
    }

    @Test func readerErrorsCarrySQLitesMessage() throws {
        let (_, path) = try makeStore()
        let reader = try ArchiveReader.open(path: path)
        #expect {
            try reader.rows("SELECT nope FROM events")
        } throws: { error in
            (error as? StoreError).map { $0.code == .invalidQuery && $0.message.contains("no such column: nope") } == true
        }
        #expect {
            try ArchiveReader.open(path: path + ".missing")
        } throws: { error in
            (error as? StoreError)?.code == .cannotOpen
        }
    }
}

/// Every entity table's rows, ordered by id, to compare archives.
func dumpEntityTables(_ reader: ArchiveReader) throws -> [String: [[SQLValue]]] {
    var tables: [String: [[SQLValue]]] = [:]
    for table in ["organizations", "projects", "pipelines", "workflows", "jobs"] {
        tables[table] = try reader.rows("SELECT * FROM \(table) ORDER BY id")
    }
    tables["events"] = try reader.rows(
        "SELECT id, type, happened_at, organization_id, project_id, pipeline_id, workflow_id, job_id, payload FROM events ORDER BY id"
    )
    return tables
}

/// Runs SQL on a database file outside the store, as another process would.
func execute(_ sql: String, on path: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sqlite3", path, sql]
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
}
