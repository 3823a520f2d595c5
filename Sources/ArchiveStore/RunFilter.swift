import ArchiveModel
import Foundation
import GRDB

/// Which runs a report or an export covers.
///
/// Time bounds apply to completion time for jobs and workflows (`stopped_at`), to creation time
/// for pipelines and to `happened_at` for events; `since` is inclusive, `until` exclusive, so
/// consecutive windows never count a run twice. Every filter applies to every source: a
/// workflow "has" a job name when one of its jobs has it, a pipeline when one of its workflows
/// or jobs has it.
public struct RunFilter: Sendable, Equatable {
    public var since: Timestamp?
    public var until: Timestamp?
    /// Project slugs (`gh/acme/widgets`), in their canonical spelling (see `ProjectSlug`); any
    /// one matches.
    public var projects: [String] {
        didSet { projects = projects.map(ProjectSlug.canonical) }
    }
    public var branch: String?
    public var workflow: String?
    public var job: String?

    public init(
        since: Timestamp? = nil,
        until: Timestamp? = nil,
        projects: [String] = [],
        branch: String? = nil,
        workflow: String? = nil,
        job: String? = nil
    ) {
        self.since = since
        self.until = until
        self.projects = projects.map(ProjectSlug.canonical)
        self.branch = branch
        self.workflow = workflow
        self.job = job
    }
}

/// The relations reports and exports read: the documented views, and `events`.
public enum RunSource: String, Sendable, CaseIterable {
    case jobs
    case workflows
    case pipelines
    case events
    /// Test results of enriched jobs (`test_runs`).
    case tests

    /// The view (or table) read, whose columns an export prints.
    public var relation: String {
        switch self {
        case .jobs: return "job_runs"
        case .workflows: return "workflow_runs"
        case .pipelines: return "pipeline_runs"
        case .events: return "events"
        case .tests: return "test_runs"
        }
    }

    /// The column that identifies a row, to make the export order total.
    var idColumn: String {
        switch self {
        case .jobs: return "job_id"
        case .workflows: return "workflow_id"
        case .pipelines: return "pipeline_id"
        case .events: return "id"
        case .tests: return "job_id, position"
        }
    }

    var timeColumn: String {
        switch self {
        case .jobs, .workflows, .tests: return "stopped_at"
        case .pipelines: return "created_at"
        case .events: return "happened_at"
        }
    }

    /// The condition for each filter, with `?` for its value (`(?)` for the list of projects).
    private var projectCondition: String {
        self == .events ? "project_id IN (SELECT id FROM projects WHERE slug IN (?))" : "project_slug IN (?)"
    }

    private var branchCondition: String {
        self == .events ? "pipeline_id IN (SELECT id FROM pipelines WHERE vcs_branch = ?)" : "branch = ?"
    }

    private var workflowCondition: String {
        switch self {
        case .jobs, .workflows, .tests: return "workflow_name = ?"
        case .pipelines: return "pipeline_id IN (SELECT pipeline_id FROM workflows WHERE name = ?)"
        case .events: return "workflow_id IN (SELECT id FROM workflows WHERE name = ?)"
        }
    }

    private var jobCondition: String {
        switch self {
        case .jobs, .tests: return "job_name = ?"
        case .workflows: return "workflow_id IN (SELECT workflow_id FROM jobs WHERE name = ?)"
        case .pipelines: return "pipeline_id IN (SELECT pipeline_id FROM jobs WHERE name = ?)"
        case .events: return "job_id IN (SELECT id FROM jobs WHERE name = ?)"
        }
    }

    /// A `WHERE` clause (empty when nothing is filtered) and its arguments, always bound, never spliced.
    func whereClause(_ filter: RunFilter) -> (sql: String, arguments: [SQLValue]) {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if let since = filter.since {
            conditions.append("\(timeColumn) >= ?")
            arguments.append(.text(since.iso8601))
        }
        if let until = filter.until {
            conditions.append("\(timeColumn) < ?")
            arguments.append(.text(until.iso8601))
        }
        if !filter.projects.isEmpty {
            let placeholders = Array(repeating: "?", count: filter.projects.count).joined(separator: ", ")
            conditions.append(projectCondition.replacingOccurrences(of: "(?)", with: "(\(placeholders))"))
            arguments += filter.projects.map(SQLValue.text)
        }
        for (value, condition) in [(filter.branch, branchCondition), (filter.workflow, workflowCondition), (filter.job, jobCondition)] {
            if let value {
                conditions.append(condition)
                arguments.append(.text(value))
            }
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }
}

extension ArchiveReader {
    /// What in `filter` matches nothing in the archive, one sentence each, so that a mistyped
    /// filter is not mistaken for an empty result. Unknown projects are always named (with the
    /// slugs the archive has), since one of several may be a typo behind a non-empty result; the
    /// other filters are checked only when `resultIsEmpty`, each with an index lookup per project.
    public func unmatched(_ filter: RunFilter, resultIsEmpty: Bool) throws(StoreError) -> [String] {
        var messages: [String] = []
        do {
            try database.read { db in
                if !filter.projects.isEmpty {
                    let slugs = try String.fetchAll(db, sql: "SELECT DISTINCT slug FROM projects WHERE slug IS NOT NULL ORDER BY slug")
                    for project in filter.projects where !slugs.contains(project) {
                        let known = slugs.isEmpty ? "the archive has no projects yet" : "the archive has " + Self.list(slugs)
                        messages.append("--project \(project) matches no project; \(known)")
                    }
                }
                if let since = filter.since, let until = filter.until, since >= until {
                    messages.append("--since \(since.iso8601) is not before --until \(until.iso8601): no time lies between them")
                }
                guard resultIsEmpty else { return }
                let checks: [(String, String?, String)] = [
                    ("branch", filter.branch, "SELECT 1 FROM pipelines WHERE vcs_branch = ? LIMIT 1"),
                    ("workflow", filter.workflow, "SELECT 1 FROM workflows WHERE project_id IN (SELECT id FROM projects) AND name = ? LIMIT 1"),
                    ("job", filter.job, "SELECT 1 FROM jobs WHERE project_id IN (SELECT id FROM projects) AND name = ? LIMIT 1"),
                ]
                for (name, value, sql) in checks {
                    guard let value, try Int.fetchOne(db, sql: sql, arguments: [value]) == nil else { continue }
                    messages.append("--\(name) \(value) matches no \(name == "branch" ? "pipeline's branch" : name) in the archive")
                }
            }
        } catch {
            throw StoreError(.unavailable, "cannot check the filters: \(describe(error))", cause: error)
        }
        return messages
    }

    /// At most ten names, then how many more.
    private static func list(_ names: [String]) -> String {
        let shown = names.prefix(10).joined(separator: ", ")
        return names.count > 10 ? "\(shown) and \(names.count - 10) more" : shown
    }
}
