import ArchiveModel
import ArchiveStore
import ArchiveTestSupport
import Foundation
import Testing

extension ProcessHeavyTests {
    /// The dashboard in a real browser: headless Chromium, driven through WebDriver by
    /// `Tests/Browser/check_dashboard.py` (which installs Debian's chromium and selenium when missing),
    /// against `circle-archive dashboard` on an archive built here. Screenshots of every page are kept
    /// in `.build/dashboard-screenshots`.
    @Suite struct BrowserTests {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        static let hostileJob = "<script>window.pwned=1</script>"
        static let hostileWorkflow = #"\"><img src=x onerror=\"window.pwned=2\">"#

        /// 24 runs of `test` (and of `lint`) on 12 revisions, two runs each, a day apart, on `main`
        /// and `release`, every fifth failed; their workflows; test results in which `retries`
        /// failed once and passed on the rerun of the same revision; and a job and a workflow with
        /// hostile names.
        static func archive() async throws -> String {
            let path = try makeTemporaryDirectory().appendingPathComponent("browser.sqlite").path
            let store = try ArchiveStore(path: path)
            let origin = Timestamp(iso8601: "2024-06-03T08:00:00Z")!
            func time(_ seconds: Int) -> String { Timestamp(microseconds: origin.microseconds + Int64(seconds) * 1_000_000).iso8601 }
            for index in 0..<24 {
                let revision = index / 2
                let pipeline = Fixtures.githubPipeline(
                    id: "pl-\(revision)",
                    number: 100 + revision,
                    branch: revision % 3 == 0 ? "release" : "main",
                    revision: "rev\(revision)"
                )
                let start = index * 43_200
                let workflowID = "wf-\(index)"
                let status = index % 5 == 0 ? "failed" : "success"
                for (offset, name) in ["lint", "test"].enumerated() {
                    let stopped = time(start + 60 + offset * 300 + index * 7)
                    let body = Fixtures.jobCompleted(
                        id: "e-\(name)-\(index)",
                        happenedAt: stopped,
                        jobID: "j-\(name)-\(index)",
                        number: index * 2 + offset + 1,
                        name: name,
                        status: name == "test" ? status : "success",
                        startedAt: time(start + offset * 300),
                        stoppedAt: stopped,
                        workflowID: workflowID,
                        pipeline: pipeline
                    )
                    _ = try await store.receive(Delivery(body: Array(body.utf8)))
                }
                let workflow = Fixtures.workflowCompleted(
                    id: "w-\(index)",
                    happenedAt: time(start + 700),
                    workflowID: workflowID,
                    status: status,
                    createdAt: time(start),
                    stoppedAt: time(start + 660 + index * 7),
                    pipeline: pipeline
                )
                _ = try await store.receive(Delivery(body: Array(workflow.utf8)))
                let tests = [
                    TestResult(classname: "WidgetTest", name: "saves", file: "spec/widget.rb", result: "success", runTimeSeconds: 0.5),
                    TestResult(
                        classname: "WidgetTest",
                        name: "retries",
                        file: "spec/widget.rb",
                        result: index == 0 ? "failure" : "success",
                        runTimeSeconds: 1.25,
                        message: index == 0 ? "timed out" : nil
                    ),
                ]
                try await store.store(
                    JobEnrichment(jobID: "j-test-\(index)", outcome: .enriched(JobDetails(jobID: "j-test-\(index)"), tests: tests)),
                    dequeuing: nil
                )
            }
            let hostile = Fixtures.jobCompleted(
                id: "e-hostile",
                happenedAt: time(30 * 43_200),
                jobID: "j-hostile",
                number: 999,
                name: hostileJob,
                startedAt: time(30 * 43_200 - 50),
                stoppedAt: time(30 * 43_200),
                workflowID: "wf-hostile",
                workflowName: hostileWorkflow
            )
            _ = try await store.receive(Delivery(body: Array(hostile.utf8)))
            try store.close()
            return path
        }

        @Test(.timeLimit(.minutes(10)))
        func theDashboardWorksInARealBrowser() async throws {
            let path = try await Self.archive()
            let server = try ServerProcess(arguments: ["--db", path], environment: [:], command: "dashboard")
            let port = try await blockingWork { try server.waitForPort() }
            let screenshots = Self.root.appendingPathComponent(".build/dashboard-screenshots").path
            let script = Process()
            script.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            script.arguments = [
                "python3", Self.root.appendingPathComponent("Tests/Browser/check_dashboard.py").path, "--base", "http://127.0.0.1:\(port)",
                "--binary", binary.path, "--db", path, "--project", "gh/acme/widgets", "--job", "test", "--workflow", "build-test-deploy",
                "--branch", "release", "--flaky-test", "retries", "--hostile-job", Self.hostileJob, "--screenshots", screenshots,
            ]
            let output = Pipe()
            script.standardOutput = output
            script.standardError = output
            try script.run()
            let text = try await blockingWork { () -> String in
                let data = output.fileHandleForReading.readDataToEndOfFile()
                script.waitUntilExit()
                return String(decoding: data, as: UTF8.self)
            }
            print(text)
            #expect(script.terminationStatus == 0, "\(text)")
            #expect(text.contains("every dashboard check passed"), "\(text)")
            #expect(try await blockingWork { server.stop() } == 0)
        }
    }
}
