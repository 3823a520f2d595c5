import ArchiveModel
import ArchiveStore
import CoreMetrics
import Synchronization

import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// The figures `GET /metrics` shows, in Prometheus' text format.
///
/// Everything is recorded through swift-metrics with this instance's factory, never the global
/// `MetricsSystem`, so each server (and each test) counts into a registry of its own. This is the
/// one place metrics are recorded: the store only reports its commits (`ArchiveStore.Options.onCommit`).
///
/// Every label value comes from a bounded set, so a scrape stays small whatever CircleCI sends:
/// event types and run statuses outside the known ones count as `other`, and the CI figures keep at
/// most `seriesLimit` (project, name) pairs each for jobs and for workflows; runs of any further
/// pair count under `project="(other)"`, `job`/`workflow="(other)"`.
public final class ArchiveMetrics: Sendable {
    /// Where handlers are made; `registry` renders what they recorded.
    private let factory: PrometheusMetricsFactory
    private let registry: PrometheusCollectorRegistry
    public let seriesLimit: Int

    /// Event types with series of their own; anything else is `other`.
    static let eventTypes = ["ping", "workflow-completed", "job-completed"]
    static let otherLabel = "other"
    static let overflowLabel = "(other)"
    static let unknownLabel = "(unknown)"

    public static let defaultSeriesLimit = 500

    private let deliveries: [String: [WebhookReply.Outcome: Counter]]
    private let ingestDuration: CoreMetrics.Timer
    private let commitBatchSize: Recorder
    private let enrichmentQueueLength: Gauge
    private let enrichmentOutcomes: [String: Counter]
    private let commitDuration: CoreMetrics.Timer
    private let databaseSize: Gauge
    private let walSize: Gauge
    private let lastEvent: Gauge
    private let newestEvent: Mutex<Timestamp?>
    private let jobs: RunSeries
    private let workflows: RunSeries

    public init(seriesLimit: Int = defaultSeriesLimit) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencies: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
            .seconds(5), .seconds(10),
        ]
        // CircleCI stops a job after 5 hours by default.
        let ciDurations: [Duration] = [5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000].map { .seconds($0) }
        factory.durationHistogramBuckets = [
            "circle_archive_ingest_duration_seconds": latencies,
            "circle_archive_commit_duration_seconds": latencies,
            "circle_archive_job_duration_seconds": ciDurations,
            "circle_archive_workflow_duration_seconds": ciDurations,
        ]
        factory.valueHistogramBuckets = ["circle_archive_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]]
        self.factory = factory
        self.seriesLimit = seriesLimit

        // Every type and outcome from the start, at 0, so rate() and alerts see them before the first one.
        var deliveries: [String: [WebhookReply.Outcome: Counter]] = [:]
        for type in Self.eventTypes + [Self.otherLabel] {
            for outcome in WebhookReply.Outcome.allCases {
                deliveries[type, default: [:]][outcome] = Counter(
                    label: "circle_archive_deliveries_total",
                    dimensions: [("type", type), ("outcome", outcome.rawValue)],
                    factory: factory
                )
            }
        }
        self.deliveries = deliveries
        ingestDuration = CoreMetrics.Timer(label: "circle_archive_ingest_duration_seconds", factory: factory)
        commitBatchSize = Recorder(label: "circle_archive_commit_batch_size", factory: factory)
        enrichmentQueueLength = Gauge(label: "circle_archive_enrichment_queue_length", factory: factory)
        enrichmentOutcomes = Dictionary(
            uniqueKeysWithValues: ["enriched", "unavailable", "postponed"].map {
                ($0, Counter(label: "circle_archive_enrichments_total", dimensions: [("outcome", $0)], factory: factory))
            }
        )
        commitDuration = CoreMetrics.Timer(label: "circle_archive_commit_duration_seconds", factory: factory)
        databaseSize = Gauge(label: "circle_archive_database_size_bytes", factory: factory)
        walSize = Gauge(label: "circle_archive_wal_size_bytes", factory: factory)
        lastEvent = Gauge(label: "circle_archive_last_event_timestamp_seconds", factory: factory)
        newestEvent = Mutex(nil)
        jobs = RunSeries(kind: "job", factory: factory, limit: seriesLimit)
        workflows = RunSeries(kind: "workflow", factory: factory, limit: seriesLimit)
    }

    /// Counts one webhook delivery, and what its event says about CI when it was stored. `type` is
    /// the event's type (the body's for a parsed event, else the header's, which is then only a claim).
    func delivered(_ reply: WebhookReply, event: WebhookEvent?, type: String?, duration: Duration) {
        let label = type.flatMap { Self.eventTypes.contains($0) ? $0 : nil } ?? Self.otherLabel
        deliveries[label]?[reply.outcome]?.increment()
        ingestDuration.recordNanoseconds(Int64(duration / .nanoseconds(1)))
        if case .stored(_, let completesRun) = reply, let event { archived(event, completesRun: completesRun) }
    }

    /// Records one transaction of the store (`ArchiveStore.Options.onCommit`): how many deliveries
    /// it carried and how long it took, its fsync included.
    public func committed(deliveries: Int, in duration: Duration) {
        commitBatchSize.record(deliveries)
        commitDuration.recordNanoseconds(Int64(duration / .nanoseconds(1)))
    }

    /// Records what a newly archived event says about CI. Call it once per event, for `stored`
    /// outcomes only, so CircleCI's retries and duplicates never count twice. A run counts only
    /// when the event completed it (`completesRun`): the several events of a cancelled workflow
    /// count one workflow, with the duration the first of them reported.
    public func archived(_ event: WebhookEvent, completesRun: Bool) {
        eventHappened(at: event.happenedAt)
        guard completesRun else { return }
        let project = event.project?.slug ?? event.project?.name ?? Self.unknownLabel
        switch event.type {
        case "job-completed":
            guard let job = event.job else { return }
            jobs.completed(project: project, name: job.name, status: job.status, from: job.startedAt, to: job.stoppedAt)
        case "workflow-completed":
            guard let workflow = event.workflow else { return }
            workflows.completed(
                project: project,
                name: workflow.name,
                status: workflow.status,
                from: workflow.createdAt,
                to: workflow.stoppedAt
            )
        default:
            break
        }
    }

    /// Moves `circle_archive_last_event_timestamp_seconds` forward (never back: CircleCI may
    /// deliver an older event after a newer one).
    public func eventHappened(at time: Timestamp) {
        newestEvent.withLock { newest in
            guard newest.map({ time > $0 }) ?? true else { return }
            newest = time
            lastEvent.record(Double(time.microseconds) / 1e6)
        }
    }

    /// The text a Prometheus scrape receives, with the database's size as of now.
    public func exposition(diskUsage: ArchiveStore.DiskUsage, enrichmentQueue: Int? = nil) -> [UInt8] {
        databaseSize.record(diskUsage.database)
        walSize.record(diskUsage.wal)
        if let enrichmentQueue { enrichmentQueueLength.record(enrichmentQueue) }
        return registry.emitToBuffer()
    }

    /// Counts what the enrichment worker did since its last report (`EnrichmentService`).
    func enrichments(enriched: Int, unavailable: Int, postponed: Int) {
        for (outcome, count) in [("enriched", enriched), ("unavailable", unavailable), ("postponed", postponed)] where count > 0 {
            enrichmentOutcomes[outcome]?.increment(by: count)
        }
    }
}

/// Completion counts and duration histograms of jobs or of workflows, per project and name.
private final class RunSeries: Sendable {
    private struct Series {
        var duration: CoreMetrics.Timer
        var completions: [String: Counter] = [:]
    }

    private struct Key: Hashable {
        var project: String
        var name: String
    }

    private let kind: String
    private let factory: PrometheusMetricsFactory
    private let limit: Int
    private let series = Mutex<[Key: Series]>([:])

    init(kind: String, factory: PrometheusMetricsFactory, limit: Int) {
        self.kind = kind
        self.factory = factory
        self.limit = limit
    }

    func completed(project: String, name: String?, status: String?, from start: Timestamp?, to stop: Timestamp?) {
        let status = status.map { RunStatus.terminal.contains($0) ? $0 : ArchiveMetrics.otherLabel } ?? ArchiveMetrics.unknownLabel
        var key = Key(project: project, name: name ?? ArchiveMetrics.unknownLabel)
        series.withLock { series in
            if series[key] == nil, series.count >= limit {
                key = Key(project: ArchiveMetrics.overflowLabel, name: ArchiveMetrics.overflowLabel)
            }
            let labels = [("project", key.project), (kind, key.name)]
            if series[key] == nil {
                series[key] = Series(
                    duration: CoreMetrics.Timer(label: "circle_archive_\(kind)_duration_seconds", dimensions: labels, factory: factory)
                )
            }
            if series[key]!.completions[status] == nil {
                series[key]!.completions[status] = Counter(
                    label: "circle_archive_\(kind)s_completed_total",
                    dimensions: labels + [("status", status)],
                    factory: factory
                )
            }
            series[key]!.completions[status]!.increment()
            if let start, let stop, stop >= start {
                series[key]!.duration.recordNanoseconds((stop.microseconds - start.microseconds) * 1000)
            }
        }
    }
}
