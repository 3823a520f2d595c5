import ArchiveModel
import ArchiveOutput
import ArchiveStore
import CircleArchiveCLI
import Foundation
import Testing

@Suite struct RowPrinterTests {
    static let columns = ["name", "runs", "mean_s", "note", "raw"]
    static let rows: [[SQLValue]] = [
        [.text("build"), .integer(12), .real(65.5), .text("plain"), .blob([0, 255])],
        [.text("té|st"), .integer(-3), .null, .text("a, \"quoted\"\nsecond line"), .null],
        [.text(""), .null, .real(0.25), .null, .null],
    ]

    private func render(_ format: OutputFormat, rows: [[SQLValue]] = rows) throws -> String {
        let sink = OutputSink()
        var printer = RowPrinter(format: format, sink: sink)
        try printer.start(columns: Self.columns)
        for row in rows { try printer.write(row) }
        try printer.finish()
        return sink.capturedText
    }

    /// Tables and markdown hold a bounded number of rows to size their columns, then stream the
    /// rest in that layout: the same text as holding everything while rows fit, and a warning once.
    @Test func tablesHoldABoundedNumberOfRowsThenStream() throws {
        for format in [OutputFormat.table, .markdown] {
            let everything = try render(format)
            let sink = OutputSink()
            var warnings = 0
            var printer = RowPrinter(format: format, sink: sink, heldRowLimit: 1) { warnings += 1 }
            try printer.start(columns: Self.columns)
            try printer.write(Self.rows[0])
            #expect(sink.capturedText.isEmpty && warnings == 0, "one row is held")
            try printer.write(Self.rows[1])
            try printer.write(Self.rows[2])
            try printer.finish()
            #expect(warnings == 1)
            let lines = sink.capturedText.split(separator: "\n")
            #expect(lines.count == everything.split(separator: "\n").count)
            #expect(lines.prefix(3) == everything.split(separator: "\n").prefix(3) || format == .table, "markdown keeps its layout")
            #expect(lines.last?.hasPrefix(format == .table ? "  " : "| ") == true)
        }
    }

    @Test func csvFollowsRFC4180() throws {
        let expected =
            "name,runs,mean_s,note,raw\r\n"
            + "build,12,65.5,plain,AP8=\r\n"
            + "té|st,-3,,\"a, \"\"quoted\"\"\nsecond line\",\r\n"
            + "\"\",,0.25,,\r\n"
        #expect(try render(.csv) == expected)
    }

    @Test func csvWritesEveryIntegerAndSeparatorExactly() throws {
        let extremes: [[SQLValue]] = [[.integer(0), .integer(Int64.min), .integer(Int64.max), .text("a\rb"), .text("\"")]]
        #expect(
            try render(.csv, rows: extremes).split(separator: "\r\n", omittingEmptySubsequences: false)[1]
                == "0,-9223372036854775808,9223372036854775807,\"a\rb\",\"\"\"\""
        )
    }

    @Test func jsonIsAnArrayOfObjectsWithTypedValues() throws {
        let text = try render(.json)
        let parsed = try JSONValue(parsing: Array(text.utf8))
        #expect(
            parsed
                == .array([
                    .object([
                        "name": .string("build"), "runs": .integer(12), "mean_s": .double(65.5), "note": .string("plain"), "raw": .string("AP8="),
                    ]),
                    .object([
                        "name": .string("té|st"), "runs": .integer(-3), "mean_s": .null, "note": .string("a, \"quoted\"\nsecond line"), "raw": .null,
                    ]),
                    .object(["name": .string(""), "runs": .null, "mean_s": .double(0.25), "note": .null, "raw": .null]),
                ])
        )
        #expect(try render(.json, rows: []) == "[]\n")
    }

    @Test func jsonLinesIsOneObjectPerLine() throws {
        let lines = try render(.jsonl).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines.last == "")
        for line in lines.dropLast() {
            #expect(try JSONValue(parsing: Array(line.utf8)).isObject)
        }
        #expect(try render(.jsonl, rows: []) == "")
    }

    @Test func tableAlignsColumnsAndRightAlignsNumbers() throws {
        let expected = """
            name   runs  mean_s  note                      raw
            -----  ----  ------  ------------------------  ----
            build    12    65.5  plain                     AP8=
            té|st    -3          a, "quoted"\\nsecond line
                           0.25

            """
        let actual = try render(.table)
        #expect(actual == expected, "\n\(actual)")
    }

    @Test func markdownEscapesPipesAndNewlines() throws {
        let expected = """
            | name | runs | mean_s | note | raw |
            | --- | ---: | ---: | --- | --- |
            | build | 12 | 65.5 | plain | AP8= |
            | té\\|st | -3 |  | a, "quoted"<br>second line |  |
            |  |  | 0.25 |  |  |

            """
        #expect(try render(.markdown) == expected)
    }
}
