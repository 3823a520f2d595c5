import ArchiveTestSupport
import Foundation
import Testing

extension ProcessHeavyTests {
    /// README's way out to a warehouse, run as written: its `pip install` line into a virtualenv under
    /// `.build/warehouse-venv` (PyPI, nothing fetched by DuckDB at run time), then its
    /// `deploy/to-parquet.py` command on an archive built by the tests; the Parquet it writes holds
    /// every view's rows and the jobs' durations.
    @Suite struct WarehouseTests {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

        /// Runs a command from the repository's root; its status and what it printed.
        static func shell(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await blockingWork {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = arguments
                process.currentDirectoryURL = root
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = pipe
                try process.run()
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return (process.terminationStatus, String(decoding: data, as: UTF8.self))
            }
        }

        @Test(.timeLimit(.minutes(10)))
        func readmesDuckDBCommandsWriteEveryViewToParquet() async throws {
            let section = try ReadmeInStepTests.section("Exports for dashboards")
            let start = try #require(section.range(of: "### Into a warehouse"))
            let block = try #require(
                section[start.upperBound...].components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first
            )
            let lines = block.split(separator: "\n").map(String.init)
            let pip = try #require(lines.first { $0.hasPrefix("pip install ") })
            let command = try #require(lines.first { $0.hasPrefix("python3 deploy/to-parquet.py ") })

            let venv = Self.root.appendingPathComponent(".build/warehouse-venv").path
            let python = venv + "/bin/python3"
            if !FileManager.default.fileExists(atPath: python) {
                let created = try await Self.shell(["python3", "-m", "venv", venv])
                #expect(created.status == 0, "\(created.output)")
            }
            let installed = try await Self.shell([python, "-m", "pip", "install", "-q"] + pip.split(separator: " ").dropFirst(2).map(String.init))
            #expect(installed.status == 0, "\(installed.output)")

            let archive = try await reportArchive()
            let out = try makeTemporaryDirectory().appendingPathComponent("warehouse").path
            let arguments = command.replacingOccurrences(of: "circle-archive.sqlite", with: archive).replacingOccurrences(
                of: "--out warehouse",
                with: "--out \(out)"
            )
            .split(separator: " ").dropFirst().map(String.init)
            let exported = try await Self.shell([python] + arguments)
            #expect(exported.status == 0, "\(exported.output)")

            for (view, time) in [
                ("job_runs", "stopped_at"), ("workflow_runs", "stopped_at"), ("pipeline_runs", "created_at"), ("test_runs", "stopped_at"),
            ] {
                let expected = try await run(["query", "--db", archive, "--format", "csv", "SELECT count(*) FROM \(view) WHERE \(time) IS NOT NULL"])
                let count = try #require(Int(expected.stdout.split(separator: "\r\n")[1]))
                #expect(count > 0, "\(view) has rows in the sample archive")
                let read = try await Self.shell([
                    python, "-c",
                    "import duckdb; print(duckdb.sql(\"SELECT count(*) FROM read_parquet('\(out)/\(view)/*/*.parquet')\").fetchone()[0])",
                ])
                #expect(read.output.trimmingCharacters(in: .whitespacesAndNewlines) == String(count), "\(view): \(read.output)")
            }
            let sum = try await run([
                "query", "--db", archive, "--format", "csv", "SELECT count(duration_seconds), total(duration_seconds) FROM job_runs",
            ])
            let fields = sum.stdout.split(separator: "\r\n")[1].split(separator: ",")
            let (runs, total) = (try #require(Double(fields[0])), try #require(Double(fields[1])))
            let parquet = try await Self.shell([
                python, "-c",
                "import duckdb; print(duckdb.sql(\"SELECT sum(duration_seconds), typeof(any_value(duration_seconds)), typeof(any_value(stopped_at)) FROM read_parquet('\(out)/job_runs/*/*.parquet')\").fetchone())",
            ])
            #expect(parquet.output.contains("'DOUBLE', 'TIMESTAMP WITH TIME ZONE'"), "\(parquet.output)")
            let written = try #require(Double(parquet.output.dropFirst().prefix { $0 != "," }), "\(parquet.output)")
            #expect(abs(written - total) <= 0.001 * runs + 1e-6, "\(written) against \(total) over \(runs) runs")
        }
    }
}
