import ArchiveModel
import ArchiveServer
import ArgumentParser
import Foundation

/// Generates realistic CircleCI webhook events for benchmarks: several projects with branches,
/// pipelines of one to three workflows of four to nine jobs, a job-completed event per job and a
/// workflow-completed event per workflow (about 85% / 15%), statuses and durations that vary.
/// Deterministic for a given seed.
@main
struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "circle-archive-bench",
        abstract: "Write N realistic webhook events as JSON lines, for the benchmarks in bench/."
    )

    @Option(help: "How many job-completed events to write (workflow events come on top).")
    var jobs = 100_000

    @Option(help: "Seed for the generator.")
    var seed: UInt64 = 1

    @Option(help: "Output file (default stdout).")
    var output: String?

    @Option(
        help: ArgumentHelp(
            "Sign each event with this webhook secret and write `SIGNATURE<tab>BODY` lines, for the HTTP benchmark.",
            valueName: "secret"
        )
    )
    var signWith: String?

    func run() throws {
        let handle: FileHandle
        if let output {
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            guard let file = FileHandle(forWritingAtPath: output) else { throw ValidationError("cannot write \(output)") }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        var generator = EventGenerator(seed: seed)
        var buffer = ""
        var written = 0
        while written < jobs {
            for event in generator.nextPipeline(maximumJobs: jobs - written) {
                if let signWith {
                    buffer += SignatureVerifier.headerValue(for: Array(event.utf8), secret: signWith)
                    buffer += "\t"
                }
                buffer += event
                buffer += "\n"
                if event.hasPrefix(#"{"type":"job-completed""#) { written += 1 }
            }
            if buffer.utf8.count > 1 << 20 {
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        handle.write(Data(buffer.utf8))
    }
}

struct EventGenerator {
    private var random: SeededGenerator
    private var pipelineNumber: [Int] = Array(repeating: 0, count: 8)
    private var jobNumber: [Int] = Array(repeating: 0, count: 8)
    private var clock = Timestamp(iso8601: "2024-01-01T00:00:00Z")!.microseconds
    private var counter = 0

    static let projects = ["api", "web", "mobile", "infra", "docs", "billing", "search", "worker"]
    static let workflows = ["build-test-deploy", "nightly", "lint"]
    static let jobs = ["checkout", "build", "unit-test", "integration-test", "lint", "typecheck", "e2e", "package", "deploy"]
    static let branches = ["main", "main", "main", "develop", "feature/login", "feature/search", "fix/flaky-test", "release/2.4"]

    init(seed: UInt64) {
        random = SeededGenerator(seed: seed)
    }

    private mutating func uuid() -> String {
        counter += 1
        let high = random.next()
        return String(
            format: "%08x-%04x-4%03x-%04x-%012llx",
            UInt32(truncatingIfNeeded: high >> 32),
            UInt16(truncatingIfNeeded: high >> 16),
            UInt16(truncatingIfNeeded: high) & 0xFFF,
            0x8000 | (counter & 0x3FFF),
            UInt64(counter)
        )
    }

    private mutating func time(_ micros: Int64) -> String {
        Timestamp(microseconds: micros).iso8601
    }

    /// All events of one pipeline, in the order CircleCI would send them.
    mutating func nextPipeline(maximumJobs: Int) -> [String] {
        let project = Int(random.next() % UInt64(Self.projects.count))
        pipelineNumber[project] += 1
        clock += Int64(random.next() % 300_000_000)  // a pipeline every 0-5 minutes
        let projectName = Self.projects[project]
        let branch = Self.branches[Int(random.next() % UInt64(Self.branches.count))]
        let revision = String(format: "%016llx%016llx%08x", random.next(), random.next(), UInt32(truncatingIfNeeded: random.next()))
        let subject = ["Fix \"retry\" logic, again", "Bump deps", "Add search, filters\nand paging", "Refactor billing"][Int(random.next() % 4)]
        let pipelineID = uuid()
        let projectJSON = """
            "project":{"id":"00000000-0000-4000-8000-00000000000\(project)","name":"\(projectName)","slug":"github/acme/\(projectName)"},\
            "organization":{"id":"00000000-0000-4000-8000-0000000000aa","name":"acme"},\
            "webhook":{"id":"00000000-0000-4000-8000-0000000000bb","name":"archive"}
            """
        let pipelineJSON = """
            "pipeline":{"id":"\(pipelineID)","number":\(pipelineNumber[project]),"created_at":"\(time(clock))",\
            "trigger":{"type":"webhook"},"vcs":{"provider_name":"github","origin_repository_url":"https://github.com/acme/\(projectName)",\
            "target_repository_url":"https://github.com/acme/\(projectName)","revision":"\(revision)",\
            "commit":{"subject":\(JSONText.quoted(subject)),"body":"","author":{"name":"Dev \(counter % 50)","email":"dev\(counter % 50)@acme.test"},\
            "authored_at":"\(time(clock - 60_000_000))","committer":{"name":"GitHub","email":"noreply@github.com"},\
            "committed_at":"\(time(clock - 60_000_000))"},"branch":\(JSONText.quoted(branch))}}
            """
        var events: [String] = []
        var jobsLeft = maximumJobs
        for workflowIndex in 0..<(1 + Int(random.next() % 3)) where jobsLeft > 0 {
            let workflowName = Self.workflows[workflowIndex]
            let workflowID = uuid()
            let created = clock + 2_000_000
            var cursor = created
            var workflowStatus = "success"
            let url = "https://app.circleci.com/pipelines/github/acme/\(projectName)/\(pipelineNumber[project])/workflows/\(workflowID)"
            for jobIndex in 0..<min(4 + Int(random.next() % 6), jobsLeft) {
                jobNumber[project] += 1
                let name = Self.jobs[(jobIndex + workflowIndex) % Self.jobs.count]
                let roll = random.next() % 100
                let status = roll < 90 ? "success" : roll < 97 ? "failed" : "canceled"
                if status != "success", workflowStatus == "success" { workflowStatus = status }
                // Durations around 20 s to 10 min with a long tail.
                let base = Int64(20 + (jobIndex * 37) % 300) * 1_000_000
                let duration = base + Int64(random.next() % UInt64(base)) + (roll > 97 ? base * 4 : 0)
                let started = cursor + Int64(random.next() % 5_000_000)
                let stopped = started + duration
                cursor = stopped
                events.append(
                    """
                    {"type":"job-completed","id":"\(uuid())","happened_at":"\(time(stopped + 150_000))",\(projectJSON),\(pipelineJSON),\
                    "workflow":{"id":"\(workflowID)","name":"\(workflowName)","created_at":"\(time(created))","url":"\(url)"},\
                    "job":{"id":"\(uuid())","name":"\(name)","started_at":"\(time(started))","stopped_at":"\(time(stopped))",\
                    "status":"\(status)","number":\(jobNumber[project])}}
                    """
                )
                jobsLeft -= 1
            }
            events.append(
                """
                {"type":"workflow-completed","id":"\(uuid())","happened_at":"\(time(cursor + 300_000))",\(projectJSON),\(pipelineJSON),\
                "workflow":{"id":"\(workflowID)","name":"\(workflowName)","created_at":"\(time(created))","stopped_at":"\(time(cursor))",\
                "url":"\(url)","status":"\(workflowStatus)"}}
                """
            )
        }
        return events
    }
}
