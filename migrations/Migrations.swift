/// One schema migration: a `migrations/NNNN_name.sql` file compiled into the binary.
public struct Migration: Sendable {
    /// The file name without `.sql`, recorded in the database once applied.
    public let id: String
    public let sql: String
}

/// The schema migrations, in the order they apply. The SQL files are embedded at build time
/// (`.embedInCode` in Package.swift; SwiftPM names `0001_x.sql` `PackageResources._001_x_sql`),
/// so the binary needs no source tree at run time.
/// To add one: create `migrations/NNNN_name.sql`, list it in Package.swift's resources and here.
/// Never edit a migration that has shipped.
public enum Migrations {
    public static let all: [Migration] = [
        Migration(id: "0001_initial", sql: String(decoding: PackageResources._001_initial_sql, as: UTF8.self)),
        Migration(id: "0002_archive_counters", sql: String(decoding: PackageResources._002_archive_counters_sql, as: UTF8.self)),
        Migration(id: "0003_backfill", sql: String(decoding: PackageResources._003_backfill_sql, as: UTF8.self)),
        Migration(
            id: "0004_canonical_project_slugs",
            sql: String(decoding: PackageResources._004_canonical_project_slugs_sql, as: UTF8.self)
        ),
        Migration(id: "0005_enrichment", sql: String(decoding: PackageResources._005_enrichment_sql, as: UTF8.self)),
        Migration(
            id: "0006_enrichment_queue_appends",
            sql: String(decoding: PackageResources._006_enrichment_queue_appends_sql, as: UTF8.self)
        ),
        Migration(
            id: "0007_workflows_by_stopped_at",
            sql: String(decoding: PackageResources._007_workflows_by_stopped_at_sql, as: UTF8.self)
        ),
        Migration(id: "0008_run_summaries", sql: String(decoding: PackageResources._008_run_summaries_sql, as: UTF8.self)),
    ]
}
