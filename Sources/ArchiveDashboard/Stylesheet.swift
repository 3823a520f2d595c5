extension Dashboard {
    /// A bar chart in a rounded square.
    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1d2330"/>\
        <rect x="7" y="16" width="4" height="9" fill="#8fb3de"/><rect x="14" y="10" width="4" height="15" fill="#8fb3de"/>\
        <rect x="21" y="6" width="4" height="19" fill="#d64545"/></svg>

        """

    /// The one stylesheet, served from the binary at `stylesheetPath`.
    static let stylesheet = """
        :root { --ink: #1d2330; --muted: #5f6b7a; --line: #d9dee5; --runs: #8fb3de; --failed: #d64545; --p50: #2b6cb0; --p95: #b7791f; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f7f8fa; }
        header { display: flex; gap: 24px; align-items: baseline; padding: 10px 24px; background: #1d2330; }
        header a { color: #fff; text-decoration: none; }
        header .home { font-weight: 600; }
        nav a { margin-right: 16px; opacity: .85; }
        main { max-width: 1480px; margin: 0 auto; padding: 8px 24px 48px; }
        h1 { font-size: 22px; margin: 16px 0 8px; }
        h2 { font-size: 17px; margin: 28px 0 8px; }
        h2 a { color: inherit; }
        a { color: #2b6cb0; }
        form.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; margin: 8px 0; }
        form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
        form.filters input { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; width: 150px; }
        form.filters button { font: inherit; padding: 5px 14px; border: 0; border-radius: 4px; background: #2b6cb0; color: #fff; }
        .window, .data, .more, .empty, .fresh { color: var(--muted); }
        .warning { background: #fff4e5; border: 1px solid #f0b86e; padding: 8px 12px; border-radius: 4px; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
        .charts .wide { grid-column: 1 / -1; }
        figure.chart { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
        figcaption { font-size: 13px; margin-bottom: 4px; }
        .key { margin-left: 8px; font-size: 12px; }
        .key::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; background: currentColor; }
        svg { width: 100%; height: auto; display: block; }
        svg .grid { stroke: #eef0f3; }
        svg .tick { font-size: 10px; fill: var(--muted); }
        svg rect.runs { fill: var(--runs); }
        svg rect.failed, svg circle.failed { fill: var(--failed); }
        svg circle.run { fill: #6b8fc4; fill-opacity: .55; }
        svg polyline { fill: none; stroke-width: 2; }
        svg polyline.p50, svg circle.p50 { stroke: var(--p50); fill: var(--p50); }
        svg polyline.p95, svg circle.p95 { stroke: var(--p95); fill: var(--p95); }
        svg polyline.rate, svg circle.rate { stroke: var(--failed); fill: var(--failed); }
        svg polyline.p50, svg polyline.p95, svg polyline.rate { fill: none; }
        .key.runs, .key.run { color: var(--runs); } .key.failed, .key.rate { color: var(--failed); }
        .key.p50 { color: var(--p50); } .key.p95 { color: var(--p95); }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; background: #fff; font-size: 13px; }
        th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
        th { background: #eef1f5; font-weight: 600; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        code { font-size: 12px; background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
        section.project { margin-bottom: 12px; }

        """
}
