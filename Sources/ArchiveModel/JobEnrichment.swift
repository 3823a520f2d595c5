/// What API v2 says about a job beyond its webhook, from `GET /project/{slug}/job/{number}`.
public struct JobDetails: Sendable, Equatable {
    public var jobID: String
    /// When the job was placed in a queue; `started_at` minus this is the time it waited.
    public var queuedAt: Timestamp?
    public var resourceClass: String?
    /// `docker`, `machine`, `macos`, …
    public var executorType: String?
    public var parallelism: Int64?

    public init(
        jobID: String,
        queuedAt: Timestamp? = nil,
        resourceClass: String? = nil,
        executorType: String? = nil,
        parallelism: Int64? = nil
    ) {
        self.jobID = jobID
        self.queuedAt = queuedAt
        self.resourceClass = resourceClass
        self.executorType = executorType
        self.parallelism = parallelism
    }
}

/// One test result of a job, from `GET /project/{slug}/{number}/tests`. `result` is kept as
/// CircleCI says it (`success`, `failure`, `skipped`, …).
public struct TestResult: Sendable, Equatable {
    public var classname: String?
    public var name: String?
    public var file: String?
    public var result: String?
    public var runTimeSeconds: Double?
    public var message: String?
    public var source: String?

    public init(
        classname: String? = nil,
        name: String? = nil,
        file: String? = nil,
        result: String? = nil,
        runTimeSeconds: Double? = nil,
        message: String? = nil,
        source: String? = nil
    ) {
        self.classname = classname
        self.name = name
        self.file = file
        self.result = result
        self.runTimeSeconds = runTimeSeconds
        self.message = message
        self.source = source
    }
}

extension APIRecords {
    /// The job details document. Read leniently: a missing or oddly typed field is nil.
    public static func jobDetails(_ document: JSONValue, jobID: String) -> JobDetails {
        JobDetails(
            jobID: jobID,
            queuedAt: document["queued_at"]?.timestamp,
            resourceClass: document["executor"]?["resource_class"]?.string,
            executorType: document["executor"]?["type"]?.string,
            parallelism: document["parallelism"]?.integer
        )
    }

    /// An item of a job's test metadata. `run_time` is seconds, as a number or a numeric string
    /// (client schemas disagree on its type).
    public static func testResult(_ item: JSONValue) -> TestResult {
        let runTime: Double? =
            switch item["run_time"] {
            case .double(let seconds): seconds
            case .integer(let seconds): Double(seconds)
            case .string(let text): Double(text)
            default: nil
            }
        return TestResult(
            classname: item["classname"]?.string,
            name: item["name"]?.string,
            file: item["file"]?.string,
            result: item["result"]?.string,
            runTimeSeconds: runTime.flatMap { $0.isFinite ? $0 : nil },
            message: item["message"]?.string,
            source: item["source"]?.string
        )
    }
}

/// How a test result counts in reports: CircleCI says `success`, `failure` or `skipped`; JUnit's
/// `error` counts as a failure, anything else as a run only.
public enum TestOutcome: Sendable, Equatable {
    case passed
    case failed
    case skipped
    case other

    @inlinable
    public init(result: String?) {
        switch result {
        case "success": self = .passed
        case "failure", "error": self = .failed
        case "skipped": self = .skipped
        default: self = .other
        }
    }

    /// `column IN ('failure', 'error')`, for SQL; the list is constant, so it is spliced safely.
    public static func failureCondition(_ column: String) -> String {
        "\(column) IN ('failure', 'error')"
    }
}
