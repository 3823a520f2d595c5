import ArchiveModel
import ArchiveStore
import Foundation

/// A page's filters, from its URL, with the CLI's meanings: `project` (repeatable), `branch`,
/// `workflow`, `job`, `since` and `until` (`30d`, `2024-06-01`, an instant). Without `since` a
/// page covers the archive's last 30 days (ending at its newest event, so a backup shows its own
/// last month); `since=all` covers everything.
struct DashboardQuery: Sendable {
    var projects: [String] = []
    var branch: String?
    var workflow: String?
    var job: String?
    /// As written, or the default window's start as an instant; nil for all time.
    var since: String?
    var until: String?
    var filter = RunFilter()
    /// Whether `since` is the default window rather than the URL's.
    var defaultWindow = false
    /// The archive's newest event when the page was asked for: the default window's end, and
    /// the overview's freshness.
    var newestEvent: Timestamp?

    static let defaultDays = 30

    /// Parses the query items of a request. `newestEvent` anchors the default window.
    init(items: [(name: String, value: String)], newestEvent: Timestamp?, now: Timestamp = .now()) throws(DashboardError) {
        self.newestEvent = newestEvent
        for (name, value) in items where !value.isEmpty {
            switch name {
            case "project": projects.append(value)
            case "branch": branch = value
            case "workflow": workflow = value
            case "job": job = value
            case "since": since = value
            case "until": until = value
            default: break
            }
        }
        filter = RunFilter(projects: projects, branch: branch, workflow: workflow, job: job)
        if since == "all" {
            since = nil
        } else if let since {
            filter.since = try Self.time(since, "since", now: now)
        } else {
            let end = newestEvent ?? now
            let start = Timestamp(microseconds: end.microseconds - Int64(Self.defaultDays) * 86_400_000_000)
            filter.since = start
            since = start.iso8601
            defaultWindow = true
        }
        if let until { filter.until = try Self.time(until, "until", now: now) }
    }

    private static func time(_ text: String, _ name: String, now: Timestamp) throws(DashboardError) -> Timestamp {
        guard let time = Timestamp(bound: text, now: now) else {
            throw DashboardError(.badRequest, "\(name)=\(text) is not a time. \(Timestamp.boundForms)")
        }
        return time
    }

    /// The filters as a URL query (`?project=…&since=…`), plus `options`.
    func urlQuery(adding options: [(String, String)] = [], replacing replaced: Set<String> = []) -> String {
        var items: [(String, String)] = options
        items += projects.filter { _ in !replaced.contains("project") }.map { ("project", $0) }
        for (name, value) in [("branch", branch), ("workflow", workflow), ("job", job), ("since", since ?? "all"), ("until", until)] {
            if let value, !replaced.contains(name) { items.append((name, value)) }
        }
        guard !items.isEmpty else { return "" }
        return "?" + items.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// The same filters as `report` options, for the command shown under a table.
    var commandLineFilters: String {
        var options = projects.map { " --project \(Self.shellQuoted($0))" }
        for (name, value) in [("branch", branch), ("workflow", workflow), ("job", job), ("since", since), ("until", until)] {
            if let value { options.append(" --\(name) \(Self.shellQuoted(value))") }
        }
        return options.joined()
    }

    /// What the page covers, in words.
    var window: String {
        let from = since.map { defaultWindow ? "the archive's last \(Self.defaultDays) days (since \($0))" : "since \($0)" } ?? "all time"
        return from + (until.map { ", until \($0)" } ?? "")
    }

    /// The filter form: a GET form, so a filtered page is a link.
    var form: String {
        func field(_ name: String, _ value: String?, _ placeholder: String) -> String {
            #"<label>\#(name) <input name="\#(name)" value="\#(HTML.escape(value ?? ""))" placeholder="\#(placeholder)"></label>"#
        }
        var html = #"<form class="filters" method="get">"#
        let projectFields = projects.isEmpty ? [field("project", nil, "gh/org/repo")] : projects.map { field("project", $0, "gh/org/repo") }
        html += projectFields.joined()
        html += field("branch", branch, "main") + field("workflow", workflow, "any") + field("job", job, "any")
        html += field("since", defaultWindow ? nil : since, "\(Self.defaultDays)d") + field("until", until, "now")
        html += #"<button type="submit">Apply</button></form>"#
        let allTime = HTML.escape(urlQuery(adding: [("since", "all")], replacing: ["since"]))
        html += #"<p class="window">Showing \#(HTML.escape(window)). <a href="\#(allTime)">All time</a></p>"#
        return html
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func shellQuoted(_ text: String) -> String {
        if text.allSatisfy({ $0.isLetter || $0.isNumber || "/-_.:".contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

/// What a dashboard request can go wrong with, mapped once to an HTTP status.
struct DashboardError: ArchiveError {
    enum Code: String, Sendable {
        /// A filter or option the page cannot use: 400.
        case badRequest
        /// A path the dashboard does not have: 404.
        case notFound
        /// The archive could not be read: 503.
        case unavailable
    }

    let code: Code
    let message: String
    var cause: (any Error)?

    init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}
