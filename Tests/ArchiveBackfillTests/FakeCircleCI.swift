import ArchiveTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A CircleCI API v2 for tests: `APIFixtures`-shaped data in small pages, faults injected on
/// request, and a log of every request answered. `serve()` puts it on a loopback port.
final class FakeCircleCI: Sendable {
    struct Workflow: Sendable {
        var id: String
        var json: String
        var jobs: [String]
    }

    struct Pipeline: Sendable {
        var id: String
        var json: String
        var workflows: [Workflow]
    }

    struct Project: Sendable {
        var json: String
        /// Newest first, as the API lists them.
        var pipelines: [Pipeline]
    }

    struct State: Sendable {
        var projects: [String: Project] = [:]
        /// Path and query of every request, in order.
        var requests: [String] = []
        /// Answers given instead of the data, once each, for a path and query: (status, Retry-After).
        var faults: [String: [(status: Int, retryAfter: String?)]] = [:]
        /// Requests whose path and query start with one of these get 503, every time.
        var broken: Set<String> = []
    }

    static let token = "fake-token"
    let state: Mutex<State>
    let pageSize: Int

    init(projects: [String: Project], pageSize: Int = 3) {
        state = Mutex(State(projects: projects))
        self.pageSize = pageSize
    }

    var requests: [String] { state.withLock { $0.requests } }

    /// Serves the fake on an ephemeral loopback port until `stop` is called.
    func serve() async -> (url: String, stop: @Sendable () async -> Void) {
        let router = Router()
        router.get("**") { [self] request, _ -> Response in answer(request) }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var quiet = Logger(label: "fake-circleci")
        quiet.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: quiet)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        return ("http://127.0.0.1:\(port)/api/v2", { task.cancel(); _ = await task.result })
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
        default:
            return Self.notFound
        }
    }

    /// Page tokens are opaque to clients; here they are `page-N`, N the first item's index.
    private func page(_ items: [String], token: String?) -> Response {
        let start = token.flatMap { Int($0.dropFirst("page-".count)) } ?? 0
        let next = start + pageSize < items.count ? "page-\(start + pageSize)" : nil
        return Self.json(200, APIFixtures.page(Array(items.dropFirst(start).prefix(pageSize)), next: next))
    }

    static let notFound = json(404, #"{"message":"Not found."}"#)

    static func json(_ status: Int, _ body: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
