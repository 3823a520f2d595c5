import ArchiveModel
import ArchiveStore
import Foundation

/// How rows are printed. Everything that prints rows goes through `RowPrinter` (`query`, reports,
/// exports, the dashboard's CSV and JSON links), so they agree on what a NULL, a number or a blob
/// looks like in each format, byte for byte.
public enum OutputFormat: String, CaseIterable, Sendable {
    /// Aligned columns for a terminal; numbers right-aligned, NULL blank.
    case table
    /// RFC 4180: header row, CRLF line ends, quotes where needed. NULL is an empty field and the
    /// empty string is `""`, so the two stay distinguishable.
    case csv
    /// One JSON array of objects keyed by column name; numbers as numbers, NULL as null.
    case json
    /// One JSON object per line.
    case jsonl
    /// A GitHub-flavoured Markdown table.
    case markdown
}

extension OutputFormat {
    /// A value as text, as CSV and tables print it: numbers in their shortest exact form, NULL
    /// as nothing, blobs in base64. The dashboard's tables show values this way too.
    public static func text(of value: SQLValue) -> String {
        switch value {
        case .null: return ""
        case .integer(let integer): return String(integer)
        case .real(let double): return "\(double)"
        case .text(let text): return text
        case .blob(let bytes): return Data(bytes).base64EncodedString()
        }
    }
}

/// Writes rows in one `OutputFormat` to a sink. Streaming formats (csv, json, jsonl) write each
/// row as it comes; table and markdown hold the first `heldRowLimit` rows to size and align the
/// columns, then stream the rest in that layout (a wider cell further down pushes its line out of
/// line), so memory stays bounded whatever the result's size.
public struct RowPrinter: RowSink {
    public let format: OutputFormat
    private let sink: OutputSink
    private let heldRowLimit: Int
    private let onLayoutFixed: () -> Void
    private var columns: [String] = []
    private var heldRows: [[SQLValue]] = []
    /// Set once the held rows are written; later rows are written at once in this layout.
    private var layout: (widths: [Int], rightAligned: [Bool])?
    private var rowCount = 0
    /// Rows written so far (held ones included).
    public var rowsWritten: Int { rowCount }

    /// `onLayoutFixed` is called when a table or markdown result outgrows `heldRowLimit` rows.
    public init(format: OutputFormat, sink: OutputSink, heldRowLimit: Int = 10_000, onLayoutFixed: @escaping () -> Void = {}) {
        self.format = format
        self.sink = sink
        self.heldRowLimit = heldRowLimit
        self.onLayoutFixed = onLayoutFixed
    }

    public mutating func start(columns: [String]) throws {
        self.columns = columns
        switch format {
        case .csv:
            for (index, column) in columns.enumerated() {
                if index > 0 { sink.append(UInt8(ascii: ",")) }
                sink.appendCSVField(column)
            }
            try sink.write("\r\n")
        case .json: try sink.write("[")
        case .jsonl, .table, .markdown: break
        }
    }

    public mutating func write(_ row: [SQLValue]) throws {
        defer { rowCount += 1 }
        switch format {
        case .csv:
            // Field by field into the sink's buffer: exports write millions of rows.
            for (index, value) in row.enumerated() {
                if index > 0 { sink.append(UInt8(ascii: ",")) }
                switch value {
                case .null: break
                case .integer(let integer): sink.appendDigits(of: integer)
                case .text(let text): sink.appendCSVField(text)
                case .real, .blob: sink.appendCSVField(plainText(value))
                }
            }
            sink.append(UInt8(ascii: "\r"))
            sink.append(UInt8(ascii: "\n"))
            try sink.flushIfFull()
        case .json:
            try sink.write((rowCount == 0 ? "\n" : ",\n") + jsonObject(row))
        case .jsonl:
            try sink.write(jsonObject(row) + "\n")
        case .table, .markdown:
            if let layout {
                try writeLine(row, layout)
            } else {
                heldRows.append(row)
                if heldRows.count > heldRowLimit {
                    onLayoutFixed()
                    try writeHeldRows()
                }
            }
        }
    }

    public mutating func finish() throws {
        switch format {
        case .csv, .jsonl: break
        case .json: try sink.write(rowCount == 0 ? "]\n" : "\n]\n")
        case .table, .markdown: if layout == nil { try writeHeldRows() }
        }
        try sink.flush()
    }

    // MARK: Cells

    private func jsonObject(_ row: [SQLValue]) -> String {
        var out = "{"
        for (index, value) in row.enumerated() {
            if index > 0 { out += "," }
            out += JSONText.quoted(columns[index]) + ":" + jsonValue(value)
        }
        return out + "}"
    }

    private func jsonValue(_ value: SQLValue) -> String {
        switch value {
        case .null: return "null"
        case .integer(let integer): return String(integer)
        case .real(let double): return JSONText.number(double)
        case .text(let text): return JSONText.quoted(text)
        case .blob: return JSONText.quoted(plainText(value))
        }
    }

    private func plainText(_ value: SQLValue) -> String { OutputFormat.text(of: value) }

    /// A value as it appears in a table cell: one line, control characters made visible.
    private func cellText(_ value: SQLValue) -> String {
        var text = plainText(value)
        if text.contains(where: { $0.isNewline || $0 == "\t" }) {
            text = text.replacingOccurrences(of: "\r\n", with: "\\n")
                .replacingOccurrences(of: "\n", with: "\\n")
                .replacingOccurrences(of: "\r", with: "\\r")
                .replacingOccurrences(of: "\t", with: "\\t")
        }
        return text
    }

    private func isNumeric(column: Int) -> Bool {
        var sawNumber = false
        for row in heldRows {
            switch row[column] {
            case .integer, .real: sawNumber = true
            case .null: continue
            default: return false
            }
        }
        return sawNumber
    }

    // MARK: Tables

    /// Sizes and aligns the columns on the rows held so far, writes the header and those rows,
    /// and fixes the layout for the rest.
    private mutating func writeHeldRows() throws {
        let rightAligned = columns.indices.map(isNumeric(column:))
        var widths = columns.map(\.count)
        if format == .table {
            for row in heldRows {
                for (column, value) in row.enumerated() { widths[column] = max(widths[column], cellText(value).count) }
            }
        }
        let layout = (widths: widths, rightAligned: rightAligned)
        self.layout = layout
        switch format {
        case .table:
            try sink.write(tableLine(columns, layout))
            try sink.write(tableLine(widths.map { String(repeating: "-", count: $0) }, layout))
        default:
            try sink.write("| " + columns.map(markdownEscape).joined(separator: " | ") + " |\n")
            try sink.write("|" + rightAligned.map { $0 ? " ---: " : " --- " }.joined(separator: "|") + "|\n")
        }
        for row in heldRows { try writeLine(row, layout) }
        heldRows = []
    }

    private func writeLine(_ row: [SQLValue], _ layout: (widths: [Int], rightAligned: [Bool])) throws {
        if format == .table {
            try sink.write(tableLine(row.map(cellText), layout))
        } else {
            try sink.write("| " + row.map { markdownEscape(plainText($0)) }.joined(separator: " | ") + " |\n")
        }
    }

    private func tableLine(_ values: [String], _ layout: (widths: [Int], rightAligned: [Bool])) -> String {
        values.enumerated().map { column, text in
            let padding = String(repeating: " ", count: max(0, layout.widths[column] - text.count))
            return layout.rightAligned[column] ? padding + text : text + padding
        }.joined(separator: "  ").trimmingTrailingSpaces + "\n"
    }

    private func markdownEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\r\n", with: "<br>")
            .replacingOccurrences(of: "\n", with: "<br>")
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}

/// A buffered byte sink over a file descriptor (stdout by default) or, in tests, memory.
public final class OutputSink {
    private let descriptor: Int32?
    private var buffer: [UInt8] = []
    /// Everything written, when the sink is in memory.
    public private(set) var captured: [UInt8] = []

    public init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 16)
    }

    /// A sink that keeps what is written in `captured`.
    public init() {
        descriptor = nil
    }

    public var capturedText: String { String(decoding: captured, as: UTF8.self) }

    public func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        try flushIfFull()
    }

    /// Writes the buffer out once it holds 64 KiB; `append` calls leave that to their caller.
    func flushIfFull() throws {
        if buffer.count >= 1 << 16 { try flush() }
    }

    func append(_ byte: UInt8) {
        buffer.append(byte)
    }

    func appendDigits(of integer: Int64) {
        guard integer != 0 else { return buffer.append(UInt8(ascii: "0")) }
        if integer < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = integer.magnitude
        let start = buffer.count
        while magnitude > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        buffer[start...].reverse()
    }

    /// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break, or is empty
    /// (so the empty string differs from NULL, which is written as nothing).
    func appendCSVField(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            // Scanning UTF-8 bytes, not Characters: the special characters are all ASCII.
            guard bytes.isEmpty || bytes.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else {
                return buffer.append(contentsOf: bytes)
            }
            buffer.append(UInt8(ascii: "\""))
            for byte in bytes {
                buffer.append(byte)
                if byte == UInt8(ascii: "\"") { buffer.append(byte) }
            }
            buffer.append(UInt8(ascii: "\""))
        }
    }

    public func flush() throws {
        defer { buffer.removeAll(keepingCapacity: true) }
        guard let descriptor else {
            captured.append(contentsOf: buffer)
            return
        }
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputError(message: "cannot write output: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

/// Output that could not be written (a closed pipe, a full disk).
public struct OutputError: ArchiveError {
    public enum Code: String, Sendable {
        case write
    }

    public var code: Code { .write }
    public let message: String
}
