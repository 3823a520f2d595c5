import ArchiveModel
import ArchiveStore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Why a backfill stopped. Each names what to fix; the CLI maps all of them to exit code 1.
public struct BackfillError: ArchiveError {
    public enum Code: String, Sendable {
        /// 401 or 403: the token is missing, wrong or cannot read the project.
        case unauthorized
        /// 404.
        case notFound
        /// Another 4xx: CircleCI refused the request itself (a page token it no longer accepts, say).
        case refused
        /// The same transient failure after every retry, or an unexpected status.
        case failed
        /// A 2xx whose body is not what the API documents.
        case invalidResponse
        /// The archive could not store or read what backfill needs (`cause` is the `StoreError`).
        case store
        /// The task was cancelled (Ctrl-C): requests and waits end at once.
        case cancelled
    }

    public let code: Code
    public let message: String
    /// The API path asked for (below the base URL), when the error is about one request.
    public let path: String?
    /// CircleCI's HTTP status, when it answered one.
    public let status: Int?
    public let cause: (any Error)?

    init(_ code: Code, _ message: String, path: String? = nil, status: Int? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.status = status
        self.cause = cause
    }

    static func unauthorized(path: String, status: Int) -> Self {
        Self(
            .unauthorized,
            "CircleCI refused the token (\(status)) for \(path): set CIRCLE_TOKEN to a personal API token of a user who can see the project",
            path: path,
            status: status
        )
    }

    static func notFound(path: String) -> Self {
        Self(
            .notFound,
            "CircleCI has no \(path) (404): check the project slug (gh/ORG/REPO, bb/ORG/REPO, or circleci/ORG-ID/PROJECT-ID "
                + "for GitLab and GitHub App projects) and that the token's user can see it",
            path: path,
            status: 404
        )
    }

    static func refused(path: String, status: Int, reason: String) -> Self {
        Self(.refused, "CircleCI refused \(path) (\(status)): \(reason)", path: path, status: status)
    }

    static func failed(path: String, reason: String) -> Self { Self(.failed, "\(path): \(reason)", path: path) }

    static func invalidResponse(path: String, reason: String) -> Self {
        Self(.invalidResponse, "unexpected answer from CircleCI for \(path): \(reason)", path: path)
    }

    static func store(_ error: StoreError) -> Self { Self(.store, error.message, cause: error) }

    static let cancelled = Self(.cancelled, "interrupted")
}

/// When to try a request again, and how long to wait first.
public struct RetryPolicy: Sendable {
    /// Tries in all, the first included.
    public var attempts: Int
    /// The first backoff after a 5xx or a network error; it doubles at each retry, up to
    /// `maximumDelay`, times a random factor in 0.5...1.5 so that clients do not retry in step.
    public var baseDelay: Duration
    public var maximumDelay: Duration
    /// The longest `Retry-After` honored; CircleCI's rate limits reset within a minute.
    public var maximumRetryAfter: Duration

    public init(
        attempts: Int = 6,
        baseDelay: Duration = .milliseconds(500),
        maximumDelay: Duration = .seconds(30),
        maximumRetryAfter: Duration = .seconds(120)
    ) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.maximumRetryAfter = maximumRetryAfter
    }

    func backoff(afterAttempt attempt: Int) -> Duration {
        let exponential = baseDelay * (1 << min(attempt - 1, 16))
        return min(exponential, maximumDelay) * Double.random(in: 0.5...1.5)
    }
}

/// Where CircleCI's API is and how to talk to it, the same for backfill and enrichment.
public struct APIConnection: Sendable {
    public static let defaultURL = "https://circleci.com/api/v2"

    /// The API v2 base URL (`https://HOST/api/v2` for CircleCI server).
    public var url: String
    /// Sent as the `Circle-Token` header, never logged or stored.
    public var token: String
    /// Units of work at once: pipelines for backfill (their workflows and jobs one request after
    /// another each), jobs for enrichment.
    public var concurrency: Int
    public var retry: RetryPolicy
    /// Per request, from sending to the whole body.
    public var timeout: Duration

    public init(
        url: String = defaultURL,
        token: String,
        concurrency: Int = 4,
        retry: RetryPolicy = RetryPolicy(),
        timeout: Duration = .seconds(30)
    ) {
        self.url = url
        self.token = token
        self.concurrency = concurrency
        self.retry = retry
        self.timeout = timeout
    }
}

/// GETs of CircleCI's API v2 with the `Circle-Token` header. Answers 429 after `Retry-After`,
/// retries 5xx and network errors with jittered exponential backoff, and turns 401/403/404 into
/// errors that say what to fix. The token is sent and never logged or put in an error.
final class CircleCIClient: Sendable {
    private let http: HTTPClient
    private let baseURL: String
    private let token: String
    private let retry: RetryPolicy
    private let timeout: TimeAmount
    private let onRetry: @Sendable (_ path: String, _ reason: String, _ delay: Duration) -> Void
    let requests = Atomic<Int>(0)
    let retries = Atomic<Int>(0)

    /// The largest response read; API pages are a few hundred KiB at most.
    static let maximumBodyBytes = 32 << 20

    init(
        _ connection: APIConnection,
        onRetry: @escaping @Sendable (_ path: String, _ reason: String, _ delay: Duration) -> Void = { _, _, _ in }
    ) {
        let (baseURL, timeout) = (connection.url, connection.timeout)
        var configuration = HTTPClient.Configuration()
        // Connecting takes no longer than a whole request may.
        configuration.timeout = .init(
            connect: .nanoseconds(Int64(min(timeout, .seconds(10)) / .nanoseconds(1))),
            read: .nanoseconds(Int64(timeout / .nanoseconds(1)))
        )
        configuration.httpVersion = .http1Only
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        token = connection.token
        retry = connection.retry
        self.timeout = .nanoseconds(Int64(timeout / .nanoseconds(1)) + 1_000_000_000)
        self.onRetry = onRetry
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    /// `path` is below the base URL (`/project/gh/acme/widgets`); `query` values are escaped here.
    func get(_ path: String, query: [(String, String)] = []) async throws(BackfillError) -> JSONValue {
        var url = baseURL + path
        if !query.isEmpty {
            url += "?" + query.map { "\($0.0)=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        var attempt = 0
        while true {
            if Task.isCancelled { throw .cancelled }
            attempt += 1
            let outcome = await fetch(url, path: path)
            let delay: Duration
            switch outcome {
            case .success(let body):
                do {
                    return try JSONValue(parsing: body)
                } catch {
                    throw .invalidResponse(path: path, reason: error.description)
                }
            case .failure(let error):
                throw error
            case .retry(let reason, let retryAfter):
                guard attempt < retry.attempts else {
                    throw .failed(path: path, reason: "\(reason), \(attempt) attempts")
                }
                delay = retryAfter.map { min($0, retry.maximumRetryAfter) } ?? retry.backoff(afterAttempt: attempt)
                retries.add(1, ordering: .relaxed)
                onRetry(path, reason, delay)
            }
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled
            }
        }
    }

    /// Every item of a paged list (`items`, then `page-token` = `next_page_token` until none).
    func allItems(_ path: String) async throws(BackfillError) -> [JSONValue] {
        var items: [JSONValue] = []
        var token: String? = nil
        repeat {
            let page = try await get(path, query: token.map { [("page-token", $0)] } ?? [])
            guard let pageItems = page["items"]?.elements else { throw .invalidResponse(path: path, reason: "no items") }
            items += pageItems
            token = page["next_page_token"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return items
    }

    private enum Outcome {
        case success([UInt8])
        case failure(BackfillError)
        case retry(reason: String, after: Duration?)
    }

    private func fetch(_ url: String, path: String) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Circle-Token", value: token)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "circle-archive")
        requests.add(1, ordering: .relaxed)
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: Self.maximumBodyBytes)
            switch response.status.code {
            case 200..<300:
                return .success(Array(body.readableBytesView))
            case 401, 403:
                return .failure(.unauthorized(path: path, status: Int(response.status.code)))
            case 404:
                return .failure(.notFound(path: path))
            case 429:
                return .retry(reason: "CircleCI answered 429 Too Many Requests", after: Self.retryAfter(response.headers.first(name: "Retry-After")))
            case 500..<600:
                return .retry(reason: "CircleCI answered \(response.status.code) \(response.status.reasonPhrase)", after: nil)
            default:
                let text = String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
                let status = Int(response.status.code)
                let reason = "\(response.status.reasonPhrase): \(text)"
                return .failure(
                    (400..<500).contains(status)
                        ? .refused(path: path, status: status, reason: reason) : .failed(path: path, reason: "\(status) \(reason)")
                )
            }
        } catch {
            if Task.isCancelled { return .failure(.cancelled) }
            // Timeouts, refused or reset connections, a name that does not resolve, a body cut
            // short: all worth another try. CircleCI said nothing, so the reason does not say it did.
            return .retry(reason: "cannot reach \(host): \(Self.describe(error))", after: nil)
        }
    }

    /// The host requests go to, for messages.
    private var host: String { URL(string: baseURL)?.host ?? baseURL }

    /// A network error in a few words: NIO's connection errors list every address tried.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if ["UnknownHost", "DNS error", "dnsAError", "dnsAAAAError"].contains(where: text.contains) { return "the name does not resolve (DNS)" }
        if text.contains("connectTimeout") { return "connecting timed out" }
        if text.contains("Connection refused") || text.contains("connection refused") { return "connection refused" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "no answer in time" }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    /// `Retry-After` as seconds or as an HTTP date (RFC 9110); nil when absent or unreadable.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int(date.timeIntervalSince(now) * 1000)))
    }

    /// Percent-escapes a query value (page tokens are base64 with `+`, `/` and `=`).
    static func escape(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// Percent-escapes a path segment; a project slug keeps its slashes.
    static func escapePath(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
