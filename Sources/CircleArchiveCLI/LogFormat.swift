import ArchiveModel
import ArchiveStore
import ArgumentParser
import Foundation
import Logging

/// How `serve` writes its log to stderr.
enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    /// swift-log's text lines, for people.
    case text
    /// One JSON object per line, for log collectors: `time`, `level`, `message`, `label`, `source`,
    /// then the line's metadata (`outcome`, `id`, `type`, `latency_ms`, `reason`, `peer`, …) as fields.
    case json

    func handler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            return JSONLogHandler(label: label, logLevel: level)
        }
    }
}

/// Writes each log line as one JSON object on stderr, in a single `write` so that lines from
/// concurrent requests never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The fields every line starts with; metadata under these names is dropped.
    private static let reserved: Set<String> = ["time", "level", "message", "label", "source"]

    func log(event: LogEvent) {
        var line = "{\"time\":\(JSONText.quoted(Timestamp.now().iso8601))"
        line += ",\"level\":\(JSONText.quoted(event.level.rawValue))"
        line += ",\"message\":\(JSONText.quoted(event.message.description))"
        line += ",\"label\":\(JSONText.quoted(label))"
        line += ",\"source\":\(JSONText.quoted(event.source))"
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in fields.keys.sorted() where !Self.reserved.contains(key) {
            line += ",\(JSONText.quoted(key)):\(Self.json(fields[key]!))"
        }
        line += "}\n"
        _ = Array(line.utf8).withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): JSONText.quoted(text)
        // Numbers stay numbers (latency_ms), so collectors can compare and sum them.
        case .stringConvertible(let value as Double) where value.isFinite: JSONText.number(value)
        case .stringConvertible(let value as Int): String(value)
        case .stringConvertible(let value): JSONText.quoted(value.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let fields): "{" + fields.keys.sorted().map { JSONText.quoted($0) + ":" + json(fields[$0]!) }.joined(separator: ",") + "}"
        }
    }
}
