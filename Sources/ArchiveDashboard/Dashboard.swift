import ArchiveModel
import ArchiveOutput
import ArchiveStore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// The read-only dashboard: the figures of the reports as charts and tables, rendered on the
/// server from the same reader calls as `circle-archive report`, so the page and the CLI never
/// disagree. Pages are HTML with inline SVG and one stylesheet, all from the binary; nothing runs
/// in the browser and nothing is fetched from elsewhere (see `headers`).
public struct Dashboard: Sendable {
    let reader: ArchiveReader
    /// Past this age of the newest event, the overview warns that nothing is arriving.
    let staleAfter: Duration

    public init(reader: ArchiveReader, staleAfter: Duration = .seconds(24 * 3600)) {
        self.reader = reader
        self.staleAfter = staleAfter
    }

    static let stylesheetPath = "/dashboard.css"
    /// Named by every page, so browsers do not ask for a `/favicon.ico` that is not there.
    static let iconPath = "/favicon.svg"

    /// Every path the dashboard answers (GET and HEAD only), for the server's method check.
    public static let paths: [String] =
        ["/", "/project", "/workflow", "/job", "/tests", stylesheetPath, iconPath]
        + DashboardReport.names.flatMap { ["/data/\($0).csv", "/data/\($0).json"] }

    /// Headers of every answer: only this origin's stylesheet may load, no script runs, no page
    /// may frame it, and links out send no referrer.
    static let headers: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { request, _ in try await page(request) { try overview($0) } }
        router.get("/project") { request, _ in try await page(request) { try project($0) } }
        router.get("/workflow") { request, _ in try await page(request) { try runs($0, of: .workflows) } }
        router.get("/job") { request, _ in try await page(request) { try runs($0, of: .jobs) } }
        router.get("/tests") { request, _ in try await page(request) { try tests($0) } }
        for (path, type, content) in [(Self.stylesheetPath, "text/css; charset=utf-8", Self.stylesheet), (Self.iconPath, "image/svg+xml", Self.icon)]
        {
            router.get(RouterPath(path)) { _, _ in
                var headers = Self.headers
                headers[.contentType] = type
                headers[.cacheControl] = "max-age=3600"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: content)))
            }
        }
        for name in DashboardReport.names {
            for format in [OutputFormat.csv, .json] {
                router.get(RouterPath("/data/\(name).\(format.rawValue)")) { request, _ in try await data(request, report: name, format: format) }
            }
        }
    }

    // MARK: Answers

    private func page(_ request: Request, _ build: @escaping @Sendable (DashboardQuery) throws -> Page) async throws -> Response {
        await answer {
            let query = try DashboardQuery(items: Self.items(request), newestEvent: try reader.newestEventTime())
            let page = try build(query)
            return (.ok, "text/html; charset=utf-8", Array(page.html(navigation: Self.navigation(query)).utf8))
        }
    }

    private func data(_ request: Request, report name: String, format: OutputFormat) async throws -> Response {
        await answer {
            let items = Self.items(request)
            let query = try DashboardQuery(items: items, newestEvent: try reader.newestEventTime())
            let options = Dictionary(items.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
            let report = try DashboardReport(name: name, options: options)
            let type = format == .csv ? "text/csv; charset=utf-8" : "application/json"
            return (.ok, type, try report.printed(reader, filter: query.filter, format: format))
        }
    }

    /// Runs `work` off the server's threads (reports read for up to a few hundred milliseconds)
    /// and maps its errors to statuses, once.
    private func answer(_ work: @escaping @Sendable () throws -> (HTTPResponse.Status, String, [UInt8])) async -> Response {
        let result: Result<(HTTPResponse.Status, String, [UInt8]), any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: Result { try work() }) }
        }
        var headers = Self.headers
        switch result {
        case .success(let (status, type, body)):
            headers[.contentType] = type
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        case .failure(let error):
            let failure = error as? DashboardError ?? DashboardError(.unavailable, "cannot read the archive: \(error)", cause: error)
            let status: HTTPResponse.Status =
                switch failure.code {
                case .badRequest: .badRequest
                case .notFound: .notFound
                case .unavailable: .serviceUnavailable
                }
            headers[.contentType] = "text/html; charset=utf-8"
            let html = "<!doctype html><title>\(status.code)</title><p>\(HTML.escape(failure.message))</p><p><a href=\"/\">Overview</a></p>\n"
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
    }

    private static func items(_ request: Request) -> [(name: String, value: String)] {
        request.uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    private static func navigation(_ query: DashboardQuery) -> String {
        let filters = HTML.escape(query.urlQuery(replacing: ["workflow", "job"]))
        return #"<nav><a href="/\#(filters)">Overview</a> <a href="/tests\#(filters)">Tests</a></nav>"#
    }

    // MARK: Pages

    private func overview(_ query: DashboardQuery) throws -> Page {
        var page = Page(title: "CI overview", query: query)
        page.body += freshness(query)
        let results = try rows(of: [.trend(.project, .day), .trend(.project, .week), .regressions(recentDays: 7, baselineDays: 28)], query)
        let (daily, weekly, regressions) = (results[0], results[1], results[2])
        let projects = Array(Set(daily.rows.compactMap { $0.first?.text })).sorted()
        if projects.isEmpty { page.paragraph("No workflow completed in this window.", className: "empty") }
        for project in projects.prefix(12) {
            let link = HTML.escape("/project" + query.urlQuery(adding: [("project", project)], replacing: ["project"]))
            page.body += #"<section class="project"><h2><a href="\#(link)">\#(HTML.escape(project))</a></h2><div class="charts">"#
            page.body += Charts.runsPerPeriod(daily, project: project, title: "Workflow runs per day, failed in red").svg
            page.body += Charts.failureRate(daily, project: project, title: "Workflow failure rate per day").svg
            page.body += Charts.percentiles(weekly, project: project, title: "Workflow duration per week, p50 and p95").svg
            page.body += "</div></section>\n"
        }
        if projects.count > 12 { page.paragraph("\(projects.count - 12) more projects: filter by project to see one.", className: "more") }
        page.heading("Jobs getting worse")
        page.paragraph(
            "The last 7 days of the window against the 28 days before: jobs whose median duration rose by a fifth or more, "
                + "or whose failure rate rose by 5 points or more."
        )
        page.table(regressions, data: DataLink(report: "regressions"), link: jobLink(query))
        return page
    }

    private func project(_ query: DashboardQuery) throws -> Page {
        guard !query.projects.isEmpty else { throw DashboardError(.badRequest, "the project page needs ?project=SLUG") }
        var page = Page(title: query.projects.joined(separator: ", "), query: query)
        let results = try rows(of: [.durations(.workflow), .durations(.job), .failures, .flaky, .slowest(limit: 20), .queue(.resourceClass)], query)
        page.heading("Workflows")
        page.table(results[0], data: DataLink(report: "durations", options: [("by", "workflow")])) { column, row in
            guard column == "workflow", let project = row["project"]?.text, let workflow = row["workflow"]?.text else { return nil }
            return "/workflow" + query.urlQuery(adding: [("project", project), ("workflow", workflow)], replacing: ["project", "workflow"])
        }
        page.heading("Jobs")
        page.table(results[1], data: DataLink(report: "durations", options: [("by", "job")]), link: jobLink(query))
        page.heading("Failures")
        page.table(results[2], limit: 20, data: DataLink(report: "failures"), link: jobLink(query))
        page.heading("Flaky jobs")
        page.table(results[3], data: DataLink(report: "flaky"), link: jobLink(query))
        page.heading("Slowest runs")
        page.table(results[4], data: DataLink(report: "slowest"), link: jobLink(query))
        page.body += queueSection(results[5], query)
        return page
    }

    /// The page of one workflow or one job: each run as a point, p50 and p95 per week, the
    /// failure rate, recent failures, and for a job its flaky revisions, slowest runs and queue time.
    private func runs(_ query: DashboardQuery, of source: RunSource) throws -> Page {
        let name = source == .jobs ? query.job : query.workflow
        guard let name else { throw DashboardError(.badRequest, "this page needs ?\(source == .jobs ? "job" : "workflow")=NAME") }
        var page = Page(title: "\(source == .jobs ? "Job" : "Workflow") \(name)", query: query)
        let grouping: DurationGrouping = source == .jobs ? .job : .workflow
        var reports: [DashboardReport] = [
            .recentRuns(source, failedOnly: false), .trend(grouping, .week), .durations(grouping), .recentRuns(source, failedOnly: true),
        ]
        if source == .jobs { reports += [.flaky, .slowest(limit: 20), .queue(.resourceClass)] }
        let results = try rows(of: reports, query)
        page.body += #"<div class="charts">"#
        page.body += Charts.runs(results[0], weekly: results[1]).svg
        page.body += Charts.weeklyFailureRate(results[1]).svg
        page.body += "</div>"
        if results[0].rows.count == DashboardReport.recentRunsLimit {
            page.paragraph(
                "The chart shows the newest \(DashboardReport.recentRunsLimit) runs; narrow the window to see older ones.",
                className: "more"
            )
        }
        page.heading("Figures")
        page.table(results[2], data: DataLink(report: "durations", options: [("by", grouping.rawValue)]))
        page.heading("Recent failures")
        let runsReport = source == .jobs ? "job-runs" : "workflow-runs"
        page.table(results[3], limit: 20, data: DataLink(report: runsReport, options: [("failed", "1")], isReport: false))
        if source == .jobs {
            page.heading("Flaky revisions")
            page.table(results[4], data: DataLink(report: "flaky"))
            page.heading("Slowest runs")
            page.table(results[5], data: DataLink(report: "slowest"))
            page.body += queueSection(results[6], query)
        }
        return page
    }

    private func tests(_ query: DashboardQuery) throws -> Page {
        var page = Page(title: "Tests", query: query)
        let results = try rows(of: [.flakyTests, .tests(.test)], query)
        if results[1].rows.isEmpty {
            page.paragraph(
                "No test results in this window. They come from CircleCI's API: run serve with CIRCLE_TOKEN, or circle-archive enrich.",
                className: "empty"
            )
        }
        page.heading("Flaky tests")
        page.paragraph("Passed and failed on the same revision in the same workflow and job: a rerun made them pass.")
        page.table(results[0], data: DataLink(report: "flaky-tests"))
        page.heading("Failing tests")
        page.table(results[1], data: DataLink(report: "tests", options: [("by", "test")]))
        return page
    }

    /// Reads the reports a page shows at once, a thread each: they are independent, so a page
    /// waits for the slowest rather than for all of them in turn.
    private func rows(of reports: [DashboardReport], _ query: DashboardQuery) throws -> [RowCollector] {
        let results = Mutex([Result<RowCollector, any Error>](repeating: .success(RowCollector()), count: reports.count))
        DispatchQueue.concurrentPerform(iterations: reports.count) { index in
            let result = Result { try reports[index].rows(reader, filter: query.filter) }
            results.withLock { $0[index] = result }
        }
        return try results.withLock { $0 }.map { try $0.get() }
    }

    private func queueSection(_ queue: RowCollector, _ query: DashboardQuery) -> String {
        guard !queue.rows.isEmpty else { return "" }
        var page = Page(title: "", query: query)
        page.heading("Queue time by resource class")
        page.table(queue, data: DataLink(report: "queue", options: [("by", "resource_class")]))
        return page.body
    }

    /// Makes a table's job names links to their job pages.
    private func jobLink(_ query: DashboardQuery) -> (String, [String: SQLValue]) -> String? {
        { column, row in
            guard column == "job", let project = row["project"]?.text, let job = row["job"]?.text else { return nil }
            return "/job" + query.urlQuery(adding: [("project", project), ("job", job)], replacing: ["project", "job"])
        }
    }

    /// The newest event (read once, with the page's filters) and, past `staleAfter`, a warning.
    private func freshness(_ query: DashboardQuery) -> String {
        guard let newest = query.newestEvent else {
            return #"<p class="warning">The archive holds no event yet: check that the webhook points here.</p>"#
        }
        let age = Double(Timestamp.now().microseconds - newest.microseconds) / 1_000_000
        let text = "Newest event: \(newest.iso8601) (\(TimeChart.format(max(age, 0), unit: "s")) ago)."
        guard age > Double(staleAfter.components.seconds) else { return #"<p class="fresh">\#(HTML.escape(text))</p>"# }
        return #"<p class="warning">\#(HTML.escape(text)) Nothing has arrived since: check the webhook and the server's log.</p>"#
    }
}
