/// The one shape of circle-archive's errors: a stable `code` to branch on, a `message` for people,
/// and the error underneath (`cause`), if any. Each layer has one such type (`StoreError`,
/// `BackfillError`, `ConfigurationError`, …); the edges map them once: the server to HTTP statuses
/// (`WebhookReply`), the command line to messages and exit codes (`CircleArchive.main`).
public protocol ArchiveError: Error, Sendable, CustomStringConvertible {
    associatedtype Code: RawRepresentable & Sendable where Code.RawValue == String
    var code: Code { get }
    var message: String { get }
    var cause: (any Error)? { get }
}

extension ArchiveError {
    public var description: String { message }
    public var cause: (any Error)? { nil }
}
