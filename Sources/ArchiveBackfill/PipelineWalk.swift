import ArchiveModel
import ArchiveStore

/// Where a backfill is in one project's pipeline list (newest first), and what each page adds to
/// the range of creation times covered; no I/O, so the rules read in one place:
///
/// - Without earlier progress, the walk starts at the newest page and goes down to `since`.
/// - With it, the walk first takes what is newer than the covered range (`above`). Once it reaches
///   the range, the range grows up to the newest pipeline; if it already reaches `since` the walk
///   is done, else it jumps to the saved page token below the range (`below`) and goes on down.
/// - Progress is recorded with a page only when the range it describes is contiguous: pages taken
///   above an earlier range record nothing until they reach it (an interruption there costs those
///   pages' list requests again, not their pipelines: those fetched finished are skipped).
struct PipelineWalk {
    private enum Phase {
        /// Above what earlier runs covered: new pipelines, down to its top.
        case above(BackfillProgress)
        /// Extending the covered range downward, towards `since`.
        case below
    }

    let projectSlug: String
    let branch: String
    let since: Timestamp
    private var phase: Phase
    /// The page to ask for next; nil for the newest page.
    private(set) var pageToken: String?
    /// The next page request uses a token saved by an earlier run, which may have expired.
    private(set) var usesSavedToken = false
    private var coveredTo: Timestamp?
    private var coveredFrom: Timestamp?
    private var reachedFirstPipeline = false
    /// Below an earlier range, pipelines newer than this were stored by it.
    private var skipAbove: Timestamp?
    private var newestSeen: Timestamp?
    private(set) var isDone = false

    init(projectSlug: String, branch: String, since: Timestamp, earlier: BackfillProgress?) {
        self.projectSlug = projectSlug
        self.branch = branch
        self.since = since
        phase = earlier.map { .above($0) } ?? .below
        coveredTo = earlier?.coveredTo
    }

    /// The saved page token was refused: page down from the newest page instead (pipelines of
    /// the covered range are skipped on the way).
    mutating func forgetSavedToken() {
        pageToken = nil
        usesSavedToken = false
    }

    /// Takes one page (pipelines in the API's order, newest first, each with its creation time)
    /// and returns the pipelines to fetch, and the progress to record with them, if any.
    mutating func take(
        _ pipelines: [PipelineRecord],
        next: String?,
        fetchedAt: Timestamp
    ) -> (
        selected: [PipelineRecord], progress: BackfillProgress?
    ) {
        usesSavedToken = false
        var selected: [PipelineRecord] = []
        var reachedSince = false
        var reachedCovered = false
        for pipeline in pipelines {
            let created = pipeline.createdAt ?? fetchedAt
            if created < since {
                reachedSince = true
                break
            }
            if case .above(let earlier) = phase, created <= earlier.coveredTo {
                reachedCovered = true
                break
            }
            newestSeen = newestSeen ?? created
            if let skipAbove, created > skipAbove { continue }
            selected.append(pipeline)
        }
        switch phase {
        case .below:
            coveredTo = coveredTo ?? newestSeen
            if reachedSince {
                coveredFrom = since
            } else if next == nil {
                reachedFirstPipeline = true
            } else if let lowest = selected.last?.createdAt {
                coveredFrom = lowest
            }
            // Past since, the next run with an older since starts again on this very page.
            let resumeAt = reachedSince ? pageToken : next
            isDone = reachedSince || next == nil
            pageToken = next
            guard let coveredTo else { return (selected, nil) }
            return (selected, progress(from: reachedFirstPipeline ? nil : coveredFrom ?? coveredTo, to: coveredTo, token: resumeAt))
        case .above(let earlier):
            guard reachedCovered || reachedSince || next == nil else {
                pageToken = next
                return (selected, nil)
            }
            let top = newestSeen.map { max($0, earlier.coveredTo) } ?? earlier.coveredTo
            coveredTo = top
            guard reachedCovered else {
                // The earlier range is older than since (or gone): this run's range replaces it.
                isDone = true
                return (selected, progress(from: reachedSince ? since : nil, to: top, token: reachedSince ? pageToken : nil))
            }
            // Joined to the earlier range: go on below it if it stops short of since.
            if let from = earlier.coveredFrom, from > since {
                phase = .below
                coveredFrom = from
                skipAbove = from
                pageToken = earlier.pageToken
                usesSavedToken = earlier.pageToken != nil
            } else {
                isDone = true
            }
            return (selected, progress(from: earlier.coveredFrom, to: top, token: earlier.pageToken))
        }
    }

    private func progress(from: Timestamp?, to: Timestamp, token: String?) -> BackfillProgress {
        BackfillProgress(projectSlug: projectSlug, branch: branch, coveredFrom: from, coveredTo: to, pageToken: token)
    }
}
