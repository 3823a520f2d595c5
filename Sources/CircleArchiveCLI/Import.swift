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

            Examples:
              circle-archive import events.jsonl
              circle-archive import --db /data/ci.sqlite 2024-*.jsonl.gz
              zcat old.jsonl.gz | circle-archive import -
            """
    )

    @OptionGroup var archive: ArchiveOptions

    @Option(help: ArgumentHelp(
        "Lines committed per transaction.",
        discussion: "Larger batches share more index pages per commit (5,000 imports about 50% faster than 1,000) at the cost of memory."))
    var batchSize = 5000

    @Option(help: "Longest line accepted, in bytes; longer lines are skipped and counted as rejected.")
    var maxLineBytes = 16 << 20

    @Argument(help: ArgumentHelp("Files of JSON lines; - reads stdin.", valueName: "file"))
    var files: [String]

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard maxLineBytes > 0 else { throw ValidationError("--max-line-bytes must be positive") }
        guard !files.isEmpty else { throw ValidationError("name at least one file, or - for stdin") }
    }

    func run() async throws {
        var tally = ImportTally()
        let progress = Progress.onTerminal()
        do {
            let store = try ArchiveStore(path: archive.databasePath(processEnvironment))
            defer { try? store.close() }
            for file in files {
                try await importFile(file, into: store, tally: &tally, progress: progress)
            }
        } catch {
            progress.clear()
            printMessage(tally.summary)
            throw reportFailure(error)
        }
        progress.clear()
        printMessage(tally.summary)
    }

    private func importFile(_ file: String, into store: ArchiveStore, tally: inout ImportTally, progress: Progress) async throws {
        let reader = try LineReader(path: file, maximumLineBytes: maxLineBytes)
        let name = file == "-" ? "stdin" : file
        var batch: [Delivery] = []
        var sources: [String] = []
        var lineNumber = 0
        // One batch commits while the next is read and parsed: the writer and the parser each
        // get a core.
        var inFlight: (task: Task<[Result<DeliveryOutcome, StoreError>], Never>, sources: [String])?
        func finishInFlight() async throws {
            guard let (task, sources) = inFlight else { return }
            inFlight = nil
            for (result, source) in zip(await task.value, sources) {
                tally.record(try result.get(), source: source)
            }
            progress.update(tally.summary)
        }
        func submit() async throws {
            let prepared = batch.map(PreparedDelivery.init)
            try await finishInFlight()
            inFlight = (Task { await store.commit(prepared) }, sources)
            batch.removeAll(keepingCapacity: true)
            sources.removeAll(keepingCapacity: true)
        }
        while let line = try reader.next() {
            lineNumber += 1
            let source = "\(name):\(lineNumber)"
            switch line {
            case .tooLong:
                tally.record(.rejected(reason: "line longer than \(maxLineBytes) bytes, skipped"), source: source)
            case .text(let bytes):
                guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
                batch.append(Delivery(body: bytes, headers: [("x-circle-archive-import", source)]))
                sources.append(source)
                if batch.count >= batchSize { try await submit() }
            }
        }
        if !batch.isEmpty { try await submit() }
        try await finishInFlight()
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
