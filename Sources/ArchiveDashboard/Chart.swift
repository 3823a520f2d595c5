import ArchiveModel
import Foundation

/// A chart over time, drawn on the server as SVG: no script, nothing fetched, and it prints.
/// Each series is points, a line or bars; hovering a mark shows its `<title>`.
struct TimeChart {
    enum Style {
        case points
        case line
        case bars
    }

    struct Mark {
        /// Seconds since 1970.
        var time: Double
        var value: Double
        /// Shown on hover.
        var label: String
        /// A CSS class of its own (e.g. a failed run), else the series'.
        var className: String? = nil
    }

    struct Series {
        var name: String
        var className: String
        var style: Style
        var marks: [Mark]
    }

    var title: String
    var unit: String
    var series: [Series]
    /// Bars span this many seconds (a day, a week).
    var barWidth: Double = 86_400
    /// Fix the top of the y axis (1 for a rate); otherwise the largest value rounded up.
    var maximum: Double?
    /// Across the whole page rather than one column of the grid.
    var wide = false

    var width: Double { wide ? 1440 : 720 }
    static let height = 220.0
    static let left = 56.0
    static let right = 12.0
    static let top = 12.0
    static let bottom = 28.0

    var svg: String {
        let marks = series.flatMap(\.marks)
        guard !marks.isEmpty else {
            return
                #"<figure class="\#(figureClass)"><figcaption>\#(HTML.escape(title))</figcaption><p class="empty">No runs in this window.</p></figure>"#
        }
        var start = marks.map(\.time).min()!
        var end = marks.map(\.time).max()! + (series.contains { $0.style == .bars } ? barWidth : 0)
        if end - start < 3600 { (start, end) = (start - 1800, end + 1800) }
        let top = Self.niceCeiling(maximum ?? max(marks.map(\.value).max()!, 0))
        let plotWidth = width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        func x(_ time: Double) -> Double { Self.left + (time - start) / (end - start) * plotWidth }
        func y(_ value: Double) -> Double { Self.top + plotHeight - (top > 0 ? value / top : 0) * plotHeight }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = #"<figure class="\#(figureClass)"><figcaption>\#(HTML.escape(title))"#
        svg += series.map { #" <span class="key \#($0.className)">\#(HTML.escape($0.name))</span>"# }.joined()
        svg += "</figcaption>"
        svg += #"<svg viewBox="0 0 \#(Int(width)) \#(Int(Self.height))" role="img" aria-label="\#(HTML.escape(title))">"#
        // Axes: four y ticks, five dates.
        for step in 0...4 {
            let value = top * Double(step) / 4
            svg += #"<line class="grid" x1="\#(f(Self.left))" x2="\#(f(width - Self.right))" y1="\#(f(y(value)))" y2="\#(f(y(value)))"/>"#
            svg += #"<text class="tick" x="\#(f(Self.left - 6))" y="\#(f(y(value) + 4))" text-anchor="end">\#(Self.format(value, unit: unit))</text>"#
        }
        for step in 0...4 {
            let time = start + (end - start) * Double(step) / 4
            let anchor = step == 0 ? "start" : step == 4 ? "end" : "middle"
            let label = end - start < 5 * 86_400 ? Self.dateAndHour(time) : Self.date(time)
            svg += #"<text class="tick" x="\#(f(x(time)))" y="\#(f(Self.height - 8))" text-anchor="\#(anchor)">\#(label)</text>"#
        }
        for series in series {
            switch series.style {
            case .bars:
                let width = max(1, barWidth / (end - start) * plotWidth - 1)
                for mark in series.marks {
                    svg += #"<rect class="\#(mark.className ?? series.className)" x="\#(f(x(mark.time)))" y="\#(f(y(mark.value)))" "#
                    svg += #"width="\#(f(width))" height="\#(f(max(0, y(0) - y(mark.value))))"><title>\#(HTML.escape(mark.label))</title></rect>"#
                }
            case .line:
                let sorted = series.marks.sorted { $0.time < $1.time }
                let points = sorted.map { "\(f(x($0.time))),\(f(y($0.value)))" }.joined(separator: " ")
                svg += #"<polyline class="\#(series.className)" points="\#(points)"/>"#
                for mark in sorted {
                    svg += #"<circle class="\#(series.className)" cx="\#(f(x(mark.time)))" cy="\#(f(y(mark.value)))" r="2.5">"#
                    svg += "<title>\(HTML.escape(mark.label))</title></circle>"
                }
            case .points:
                for mark in series.marks {
                    svg += #"<circle class="\#(mark.className ?? series.className)" cx="\#(f(x(mark.time)))" cy="\#(f(y(mark.value)))" r="2">"#
                    svg += "<title>\(HTML.escape(mark.label))</title></circle>"
                }
            }
        }
        svg += "</svg></figure>\n"
        return svg
    }

    private var figureClass: String { wide ? "chart wide" : "chart" }

    /// 1, 2 or 5 times a power of ten, at or above `value` (1 for nothing).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= value * 0.999_999 } ?? 10 * power
    }

    static func format(_ value: Double, unit: String) -> String {
        switch unit {
        case "%": return "\(Int((value * 100).rounded()))%"
        case "s":
            if value >= 2 * 86_400 { return HTML.number((value / 86_400).rounded()) + " days" }
            if value >= 3600 { return HTML.number((value / 3600 * 10).rounded() / 10) + " h" }
            if value >= 120 { return HTML.number((value / 60 * 10).rounded() / 10) + " min" }
            return HTML.number((value * 10).rounded() / 10) + " s"
        default: return HTML.number(value)
        }
    }

    static func date(_ seconds: Double) -> String {
        String(Timestamp(microseconds: Int64(seconds * 1_000_000)).iso8601.prefix(10))
    }

    /// `06-03 14:00`, for spans of a few days.
    static func dateAndHour(_ seconds: Double) -> String {
        let text = Timestamp(microseconds: Int64(seconds * 1_000_000)).iso8601
        return String(text.dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ") + ":00"
    }

    static func seconds(_ iso8601: String) -> Double? {
        Timestamp(iso8601: iso8601.count == 10 ? iso8601 + "T00:00:00Z" : iso8601).map { Double($0.microseconds) / 1_000_000 }
    }
}
