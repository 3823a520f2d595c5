import ArchiveModel
import GRDB

/// Decides, inside the writer's transaction, which stored events complete a run for the first
/// time (see `DeliveryOutcome.stored`): a `workflow-completed` or `job-completed` event completes
/// its run unless the archive already holds a terminal status for it (from an earlier event, or
/// from backfill). A status CircleCI may add later counts as a completion too. What the archive
/// held before the batch is read from the row (a primary-key lookup of a page the batch's upsert
/// touches anyway); runs completed earlier in the same batch are remembered here, because the
/// batch's upserts are applied after all its events are inserted.
struct CompletedRuns {
    private struct Run: Hashable {
        let table: String
        let id: String
    }

    private let statements: WriterStatements
    private var completed: Set<Run> = []

    init(statements: WriterStatements) {
        self.statements = statements
    }

    mutating func isFirstCompletion(by event: WebhookEvent, in db: Database) throws -> Bool {
        let table: String
        let id: String
        switch event.type {
        case "workflow-completed":
            guard let workflow = event.workflow else { return false }
            (table, id) = ("workflows", workflow.id)
        case "job-completed":
            guard let job = event.job else { return false }
            (table, id) = ("jobs", job.id)
        default:
            return false
        }
        guard completed.insert(Run(table: table, id: id)).inserted else { return false }
        return !RunStatus.terminal.contains(try statements.status(in: table, id: id, in: db) ?? "")
    }
}
