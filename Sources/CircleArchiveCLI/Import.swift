import ArchiveStore
import ArgumentParser
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Archive webhook payloads from files, one JSON object per line.",
        discussion: """
            Each line goes through the same ingest path as a webhook delivery: events are stored \
            once by id (importing a file twice stores nothing the second time), normalized the same \
            way, and lines that are not acceptable events are kept in rejected_deliveries. Signatures \
            are not checked: the files are trusted. Blank lines are skipped; gzip input is \
            decompressed. The summary goes to stderr; progress too, when stderr is a terminal.

            Input is JSON lines: one whole JSON object per line. A pretty-printed document or a \
            JSON array is refused before anything is written; convert it first with \
            jq -c . FILE (or jq -c '.[]' FILE for an array).

            Exit status: 0 when every line was stored or was a duplicate; 1 when a line was \
            rejected (the others are stored) or an input cannot be read; 130 after Ctrl-C, which \
            stops between lines. Running the same command again continues where it stopped.

            Examples:
              circle-archive import events.jsonl
              circle-archive import --db /data/ci.sqlite 2024-*.jsonl.gz
              zcat old.jsonl.gz | circle-archive import -
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(
        help: ArgumentHelp(
            "Lines committed per transaction.",
            discussion: "Larger batches share more index pages per commit (5,000 imports about 50% faster than 1,000) at the cost of memory."
        )
    )
    var batchSize = 5000

    @Option(help: "Longest line accepted, in bytes; longer lines are skipped and counted as rejected.")
    var maxLineBytes = 16 << 20

    @Argument(help: ArgumentHelp("Files of JSON lines; - reads stdin.", valueName: "file"))
    var files: [String]

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard maxLineBytes > 0 else { throw ValidationError("--max-line-bytes must be positive") }
        guard !files.isEmpty else { throw ValidationError("name at least one file, or - for stdin") }
        guard files.count(where: { $0 == "-" }) <= 1 else { throw ValidationError("- (stdin) can be named once") }
    }

    func run() async throws {
        // Every input is opened and looked at before the archive is: a missing file or a
        // pretty-printed JSON document must not leave an empty archive (and its -wal, -shm) behind.
        let inputs = try files.map { try Input(path: $0, maximumLineBytes: maxLineBytes) }
        let progress = ProgressLine.onTerminal()
        let store = try ArchiveStore(path: archive.databasePath(processEnvironment))
        let outcome = await Interruptible.run { [self] in
            var run = ImportRun()
            do {
                for input in inputs where !Task.isCancelled {
                    try await importFile(input, into: store, run: &run, progress: progress)
                }
                // Reports over what was imported read summaries, not every run; Ctrl-C stops
                // between days, and the next refresh (serve, import, migrate) finishes the rest.
                if !Task.isCancelled { try await store.refreshSummaries(showing: progress) }
            } catch {
                run.failure = error
            }
            return run
        }
        // The import task has ended, and with it every batch it started: closing cuts none short.
        var run = (try? outcome.result.get()) ?? ImportRun()
        do { try store.close() } catch { run.failure = run.failure ?? error }
        progress.clear()
        printMessage(run.tally.summary)
        if let failure = run.failure { throw failure }
        if outcome.interrupted {
            printMessage(
                "interrupted at \(run.position); everything before it is stored. Run the same command again to continue: "
                    + "events already archived are skipped as duplicates."
            )
            throw ExitStatus.interrupted
        }
        if run.tally.rejected > 0 {
            printError(
                "\(run.tally.rejected) line\(run.tally.rejected == 1 ? " was" : "s were") rejected (reasons above; kept in rejected_deliveries); "
                    + "the other lines are stored"
            )
            throw ExitStatus.failure
        }
    }

    /// What an import did so far: counts, the last line read (`file:line`), and what stopped it.
    struct ImportRun: Sendable {
        var tally = ImportTally()
        var position = ""
        var failure: (any Error)?
    }

    /// A batch the writer committed, with the `file:line` of each delivery in it.
    private struct Committed: Sendable {
        let results: [Result<DeliveryOutcome, StoreError>]
        let sources: [String]
    }

    /// Imports one input, stopping between lines once the task is cancelled (Ctrl-C). One batch
    /// commits in a child task while the next is read and parsed, so the writer and the parser
    /// each get a core; the group awaits it whatever happens, so no commit outlives the import.
    private func importFile(_ input: Input, into store: ArchiveStore, run: inout ImportRun, progress: ProgressLine) async throws {
        let reader = try input.open()
        var batch: [Delivery] = []
        var sources: [String] = []
        var lineNumber = 0
        func record(_ committed: Committed) throws {
            for (result, source) in zip(committed.results, committed.sources) {
                run.tally.record(try result.get(), source: source)
            }
            progress.update(run.tally.summary)
        }
        try await withThrowingTaskGroup(of: Committed.self) { group in
            var committing = false
            func submit() async throws {
                // Parse this batch while the previous one commits, then wait for that commit.
                let (prepared, batchSources) = (batch.map(PreparedDelivery.init), sources)
                if committing, let done = try await group.next() { try record(done) }
                group.addTask { Committed(results: await store.commit(prepared), sources: batchSources) }
                committing = true
                batch.removeAll(keepingCapacity: true)
                sources.removeAll(keepingCapacity: true)
            }
            do {
                while !Task.isCancelled, let line = try reader.next() {
                    lineNumber += 1
                    run.position = "\(input.name):\(lineNumber)"
                    switch line {
                    case .tooLong:
                        run.tally.record(.rejected(reason: "line longer than \(maxLineBytes) bytes, skipped"), source: run.position)
                    case .text(let bytes):
                        guard !Input.isBlank(bytes) else { continue }
                        batch.append(Delivery(body: bytes, headers: [("x-circle-archive-import", run.position)]))
                        sources.append(run.position)
                        if batch.count >= batchSize { try await submit() }
                    }
                }
                if !batch.isEmpty { try await submit() }
                while let done = try await group.next() { try record(done) }
            } catch {
                // The batch being committed is counted before the error goes up.
                while let done = try? await group.next() { try? record(done) }
                throw error
            }
        }
    }
}

/// One file (or stdin) to import, checked before anything is written: it can be opened, and its
/// first line is not the start of a pretty-printed JSON document or array, whose lines would each
/// be rejected as fragments.
private struct Input {
    let path: String
    var name: String { path == "-" ? "stdin" : path }
    /// Stdin can be read only once, so the reader that was checked is the one imported from.
    private let checkedStdin: LineReader?
    private let maximumLineBytes: Int

    init(path: String, maximumLineBytes: Int) throws {
        self.path = path
        self.maximumLineBytes = maximumLineBytes
        var info = stat()
        if path != "-", stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            throw CLIError.input("\(path) is a directory; name the files to import")
        }
        let reader = try LineReader(path: path, maximumLineBytes: maximumLineBytes)
        var firstLine: LineReader.Line?
        repeat {
            firstLine = try reader.next()
            if case .text(let bytes) = firstLine, Self.isBlank(bytes) { continue }
            break
        } while true
        if let firstLine { reader.pushBack(firstLine) }
        if case .text(let bytes) = firstLine { try Self.checkShape(firstLine: bytes, name: path == "-" ? "stdin" : path) }
        checkedStdin = path == "-" ? reader : nil
    }

    func open() throws -> LineReader {
        try checkedStdin ?? LineReader(path: path, maximumLineBytes: maximumLineBytes)
    }

    static func isBlank(_ bytes: [UInt8]) -> Bool {
        !bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D })
    }

    /// JSON lines hold one whole object per line. A first line that is `{` alone, or starts with
    /// `[`, is the start of one document spread over lines, or of an array: say how to convert it.
    private static func checkShape(firstLine: [UInt8], name: String) throws {
        let trimmed = firstLine.drop(while: { $0 == 0x20 || $0 == 0x09 || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF })
        let quoted = name == "stdin" ? "FILE" : "'\(name)'"
        if trimmed.first == UInt8(ascii: "[") {
            throw CLIError.input(
                "\(name) holds a JSON array, not one JSON object per line (JSON lines); nothing was imported. "
                    + "Convert it with: jq -c '.[]' \(quoted) > events.jsonl"
            )
        }
        if trimmed.elementsEqual([UInt8(ascii: "{")]) || trimmed.elementsEqual([UInt8(ascii: "{"), 0x0D]) {
            throw CLIError.input(
                "\(name) holds JSON spread over several lines (pretty-printed), not one JSON object per line (JSON lines); "
                    + "nothing was imported. Convert it with: jq -c . \(quoted) > events.jsonl"
            )
        }
    }
}

/// Counts of what an import did, and the first few rejections to show.
struct ImportTally {
    var stored = 0
    var duplicate = 0
    var rejected = 0
    private let shownRejections = 10
    let started = ContinuousClock.now

    var processed: Int { stored + duplicate + rejected }

    mutating func record(_ outcome: DeliveryOutcome, source: String) {
        switch outcome {
        case .stored: stored += 1
        case .duplicate: duplicate += 1
        case .rejected(let reason):
            rejected += 1
            if rejected <= shownRejections { printMessage("\(source): rejected: \(reason)") }
            if rejected == shownRejections + 1 { printMessage("(further rejections are not shown; see rejected_deliveries)") }
        }
    }

    var rate: Int {
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        return seconds > 0 ? Int(Double(processed) / seconds) : 0
    }

    var summary: String {
        "stored \(stored), duplicate \(duplicate), rejected \(rejected) (\(processed) events, \(rate)/s)"
    }
}
