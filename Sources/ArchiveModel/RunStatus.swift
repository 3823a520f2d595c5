/// How statuses count in reports. Success rate follows CircleCI's definition: successful runs
/// over all runs except canceled ones.
public enum RunStatus {
    public static let success = "success"
    public static let canceled = "canceled"
    /// Terminal statuses that mean the run did not succeed.
    public static let failures = ["failed", "error", "infrastructure_fail", "timedout", "unauthorized", "terminated-unknown"]
    /// Every status a completed job or workflow is known to end with; anything else (`running`,
    /// `queued`, `on_hold`, `failing`, `blocked`, …) means it may still change.
    public static let terminal: Set<String> = Set([success, canceled, "not_run"] + failures)

    /// Inlinable: reports call it once per run, from another module.
    @inlinable
    public static func isFailure(_ status: String?) -> Bool {
        status.map(failures.contains) ?? false
    }

    /// `column IN ('failed', …)`, for SQL; the list is constant, so it is spliced safely.
    public static func failureCondition(_ column: String) -> String {
        "\(column) IN (" + failures.map { "'\($0)'" }.joined(separator: ", ") + ")"
    }
}
