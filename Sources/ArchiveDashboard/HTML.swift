import ArchiveOutput
import ArchiveStore
import Foundation

/// HTML written by hand, every value through `escape`: names, commit subjects and messages come
/// from CircleCI and from whoever can make a job, and must show as text.
enum HTML {
    /// Text for an element's content or a double-quoted attribute.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// An `href` for a link out of the dashboard: only http and https, so a `javascript:` URL
    /// stored in the archive is never made clickable.
    static func externalLink(_ url: String, text: String) -> String {
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else { return escape(url) }
        return #"<a href="\#(escape(url))" rel="noreferrer">\#(escape(text))</a>"#
    }

    /// A number as tables show it: integers as they are, others with at most three decimals.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        let text = String(format: "%.3f", value)
        var trimmed = Substring(text)
        while trimmed.hasSuffix("0") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// A table cell shows what the CSV holds, so the page and the CLI agree to the digit.
    static func cell(_ value: SQLValue) -> String {
        escape(OutputFormat.text(of: value))
    }
}

/// A dashboard page: a title, the filters it was asked for, and sections of HTML.
struct Page {
    var title: String
    var query: DashboardQuery
    var body: String = ""

    mutating func heading(_ text: String, level: Int = 2) {
        body += "<h\(level)>\(HTML.escape(text))</h\(level)>\n"
    }

    mutating func paragraph(_ html: String, className: String? = nil) {
        body += className.map { #"<p class="\#($0)">"# } ?? "<p>"
        body += html + "</p>\n"
    }

    /// A table of report rows, at most `limit` of them, with links to all of them as CSV and
    /// JSON (`data`, the report's path and options). Columns whose name ends in `url` become
    /// links; `link` can make a cell a link to another dashboard page.
    mutating func table(
        _ rows: RowCollector,
        limit: Int = 50,
        data: DataLink?,
        link: (_ column: String, _ row: [String: SQLValue]) -> String? = { _, _ in nil }
    ) {
        body += #"<div class="table">"#
        if let data {
            body += #"<p class="data">"#
            body += #"<a href="\#(HTML.escape(data.url(format: "csv", query: query)))">CSV</a> · "#
            body += #"<a href="\#(HTML.escape(data.url(format: "json", query: query)))">JSON</a>"#
            body += data.command.map { #" · <code>\#(HTML.escape($0 + query.commandLineFilters))</code>"# } ?? ""
            body += "</p>"
        }
        guard !rows.rows.isEmpty else {
            body += #"<p class="empty">Nothing in this window.</p></div>"# + "\n"
            return
        }
        body += "<table><thead><tr>"
        for column in rows.columns { body += "<th>\(HTML.escape(column))</th>" }
        body += "</tr></thead><tbody>\n"
        for row in rows.rows.prefix(limit) {
            body += "<tr>"
            let named = rows.named(row)
            for (column, value) in zip(rows.columns, row) {
                let numeric = if case .integer = value { true } else if case .real = value { true } else { false }
                body += numeric ? #"<td class="n">"# : "<td>"
                if let href = link(column, named), case .text(let text) = value {
                    body += #"<a href="\#(HTML.escape(href))">\#(HTML.escape(text))</a>"#
                } else if column.hasSuffix("url"), case .text(let url) = value {
                    body += HTML.externalLink(url, text: "open")
                } else {
                    body += HTML.cell(value)
                }
                body += "</td>"
            }
            body += "</tr>\n"
        }
        body += "</tbody></table>"
        if rows.rows.count > limit {
            body += #"<p class="more">\#(rows.rows.count - limit) more rows in the CSV and JSON.</p>"#
        }
        body += "</div>\n"
    }

    /// The whole document.
    func html(navigation: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title)) · circle-archive</title>
        <link rel="stylesheet" href="\(Dashboard.stylesheetPath)">
        <link rel="icon" href="\(Dashboard.iconPath)" type="image/svg+xml">
        </head>
        <body>
        <header><a class="home" href="/">circle-archive</a>\(navigation)</header>
        <main>
        <h1>\(HTML.escape(title))</h1>
        \(query.form)
        \(body)
        </main>
        </body>
        </html>

        """
    }
}

/// Where a table's rows can be had as data: `/data/NAME.csv` with the report's options and the
/// page's filters, and the CLI command that prints the same bytes.
struct DataLink {
    /// The report, as `report NAME` names it (`durations`, `flaky-tests`, …).
    var report: String
    /// The report's own options, e.g. `by=job`.
    var options: [(String, String)] = []
    /// Whether the rows are exactly `circle-archive report NAME`'s (some tables have no report).
    var isReport = true

    func url(format: String, query: DashboardQuery) -> String {
        "/data/\(report).\(format)" + query.urlQuery(adding: options)
    }

    var command: String? {
        guard isReport else { return nil }
        return "circle-archive report \(report)" + options.map { " --\($0.0) \($0.1)" }.joined()
    }
}
