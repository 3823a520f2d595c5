import ArchiveModel
import ArchiveStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A CircleCI API v2 for tests: `APIFixtures`-shaped data in small pages, faults injected on
/// request, and a log of every request answered. `serve()` puts it on a loopback port.
public final class FakeCircleCI: Sendable {
    public struct Workflow: Sendable {
        public var id: String
        public var json: String
        public var jobs: [String]

        public init(id: String, json: String, jobs: [String]) {
            self.id = id
            self.json = json
            self.jobs = jobs
        }
    }

    public struct Pipeline: Sendable {
        public var id: String
        public var json: String
        public var workflows: [Workflow]

        public init(id: String, json: String, workflows: [Workflow]) {
            self.id = id
            self.json = json
            self.workflows = workflows
        }
    }

    public struct Project: Sendable {
        public var json: String
        /// Newest first, as the API lists them.
        public var pipelines: [Pipeline]

        public init(json: String, pipelines: [Pipeline]) {
            self.json = json
            self.pipelines = pipelines
        }
    }

    public struct State: Sendable {
        public var projects: [String: Project] = [:]
        /// Path and query of every request, in order.
        public var requests: [String] = []
        /// Answers given instead of the data, once each, for a path and query: (status, Retry-After).
        public var faults: [String: [(status: Int, retryAfter: String?)]] = [:]
        /// Requests whose path and query start with one of these get 503, every time.
        public var broken: Set<String> = []
        /// Job details documents by `slug/number` (`gh/acme/widgets/7`); a job missing here is 404.
        public var jobDetails: [String: String] = [:]
        /// Test metadata items by `slug/number`, served a page at a time; a job missing here is 404.
        public var tests: [String: [String]] = [:]
        /// How long each answer takes, as a slow network or a busy API would.
        public var latency: Duration = .zero
    }

    public static let token = "fake-token"
    public let state: Mutex<State>
    let pageSize: Int

    public init(projects: [String: Project], pageSize: Int = 3) {
        state = Mutex(State(projects: projects))
        self.pageSize = pageSize
    }

    public var requests: [String] { state.withLock { $0.requests } }

    /// Serves the fake on an ephemeral loopback port until `stop` is called.
    public func serve() async -> (url: String, stop: @Sendable () async -> Void) {
        let router = Router()
        router.get("**") { [self] request, _ -> Response in
            let latency = state.withLock { $0.latency }
            if latency > .zero { try await Task.sleep(for: latency) }
            return answer(request)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var quiet = Logger(label: "fake-circleci")
        quiet.logLevel = .critical
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: quiet
        )
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        return (
            "http://127.0.0.1:\(port)/api/v2",
            {
                task.cancel()
                _ = await task.result
            }
        )
    }

    private func answer(_ request: Request) -> Response {
        let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        return state.withLock { state -> Response in
            state.requests.append(target)
            guard request.headers[HTTPField.Name("Circle-Token")!] == Self.token else {
                return Self.json(401, #"{"message":"You must log in first."}"#)
            }
            if let fault = state.faults[target]?.first {
                state.faults[target]?.removeFirst()
                var response = Self.json(fault.status, #"{"message":"injected"}"#)
                if let retryAfter = fault.retryAfter { response.headers[HTTPField.Name("Retry-After")!] = retryAfter }
                return response
            }
            if state.broken.contains(where: { target.hasPrefix($0) }) { return Self.json(503, #"{"message":"unavailable"}"#) }
            let token = request.uri.queryParameters["page-token"].map(String.init)
            return route(request.uri.path, pageToken: token, state: state)
        }
    }

    private func route(_ path: String, pageToken: String?, state: State) -> Response {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count >= 4, parts[0] == "api", parts[1] == "v2" else { return Self.notFound }
        let rest = Array(parts.dropFirst(2))
        let pipelines = state.projects.values.flatMap(\.pipelines)
        switch (rest[0], rest.count) {
        case ("project", 4):
            return state.projects[rest[1...3].joined(separator: "/")].map { Self.json(200, $0.json) } ?? Self.notFound
        case ("project", 5) where rest[4] == "pipeline":
            guard let project = state.projects[rest[1...3].joined(separator: "/")] else { return Self.notFound }
            return page(project.pipelines.map(\.json), token: pageToken)
        case ("pipeline", 3) where rest[2] == "workflow":
            guard let pipeline = pipelines.first(where: { $0.id == rest[1] }) else { return Self.notFound }
            return page(pipeline.workflows.map(\.json), token: pageToken)
        case ("workflow", 3) where rest[2] == "job":
            guard let workflow = pipelines.flatMap(\.workflows).first(where: { $0.id == rest[1] }) else { return Self.notFound }
            return page(workflow.jobs, token: pageToken)
        case ("project", 6) where rest[4] == "job":
            return state.jobDetails[(rest[1...3] + [rest[5]]).joined(separator: "/")].map { Self.json(200, $0) } ?? Self.notFound
        case ("project", 6) where rest[5] == "tests":
            guard let tests = state.tests[rest[1...4].joined(separator: "/")] else { return Self.notFound }
            return page(tests, token: pageToken)
        default:
            return Self.notFound
        }
    }

    /// Page tokens are opaque to clients; here they are `page-N`, N the first item's index. Any
    /// other token is refused with 400, as an expired one would be.
    private func page(_ items: [String], token: String?) -> Response {
        if let token, !token.hasPrefix("page-") || Int(token.dropFirst("page-".count)) == nil {
            return Self.json(400, #"{"message":"Invalid page token."}"#)
        }
        let start = token.flatMap { Int($0.dropFirst("page-".count)) } ?? 0
        let next = start + pageSize < items.count ? "page-\(start + pageSize)" : nil
        return Self.json(200, APIFixtures.page(Array(items.dropFirst(start).prefix(pageSize)), next: next))
    }

    static let notFound = json(404, #"{"message":"Not found."}"#)

    static func json(_ status: Int, _ body: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Times of the fake's runs: pipeline n of `widgets` starts `n` hours after this, so the newest
/// of 8 started five minutes ago. Relative to now, because a run fetched while running must end
/// after it was fetched, as real runs do.
public let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 8 * 3600 - 300).rounded())

/// `start` plus `hours` and `minutes`, as the API writes times.
public func time(_ hours: Int, minutes: Int = 0) -> String {
    Timestamp(microseconds: Int64((start.timeIntervalSince1970 + Double(hours * 3600 + minutes * 60)) * 1e6)).iso8601
}

/// `pipelines` pipelines of gh/acme/widgets, numbered 1 (oldest) to n, an hour apart (see
/// `start`). Each has a workflow `build` with jobs `lint` and `test` of 10 minutes; every third
/// also has an approval job. The newest pipeline is still running unless `runningNewest` is false.
public func widgets(pipelines count: Int, runningNewest: Bool = true) -> FakeCircleCI.Project {
    let pipelines = (1...count).reversed().map { n -> FakeCircleCI.Pipeline in
        let created = time(n)
        let stopped = time(n, minutes: 10)
        let running = runningNewest && n == count
        var jobs = [
            APIFixtures.job(id: "job-\(n)-lint", number: n * 10, name: "lint", startedAt: created, stoppedAt: stopped),
            APIFixtures.job(
                id: "job-\(n)-test",
                number: n * 10 + 1,
                name: "test",
                status: running ? "running" : "success",
                startedAt: created,
                stoppedAt: running ? nil : stopped
            ),
        ]
        if n % 3 == 0 {
            jobs.append(APIFixtures.job(id: "job-\(n)-hold", number: nil, name: "hold", type: "approval", startedAt: nil, stoppedAt: nil))
        }
        let workflow = FakeCircleCI.Workflow(
            id: "workflow-\(n)",
            json: APIFixtures.workflow(
                id: "workflow-\(n)",
                pipelineID: "pipeline-\(n)",
                pipelineNumber: n,
                name: "build",
                status: running ? "running" : "success",
                createdAt: created,
                stoppedAt: running ? nil : stopped
            ),
            jobs: jobs
        )
        return FakeCircleCI.Pipeline(
            id: "pipeline-\(n)",
            json: APIFixtures.pipeline(id: "pipeline-\(n)", number: n, createdAt: created),
            workflows: [workflow]
        )
    }
    return FakeCircleCI.Project(json: APIFixtures.project, pipelines: pipelines)
}
