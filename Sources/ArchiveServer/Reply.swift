import ArchiveModel
import ArchiveStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The JSON body of every answer the server writes itself: `{"status":…}` and `{"id":…}` for
/// deliveries and `/healthz`, `{"error":…}` for what went wrong. Fields that are nil are left out.
struct ReplyBody: Sendable {
    var status: String?
    var id: String?
    var error: String?

    /// Encoded with the keys in the order declared (`status`, `id`, `error`), as README shows them.
    var json: String {
        var fields: [String] = []
        if let status { fields.append(#""status":"# + JSONText.quoted(status)) }
        if let id { fields.append(#""id":"# + JSONText.quoted(id)) }
        if let error { fields.append(#""error":"# + JSONText.quoted(error)) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    func response(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }
}

/// How a delivery to `POST /webhooks/circleci` ended. The one place that decides, for each
/// ending, the HTTP status, the body, the log line and its level, and the `outcome` label of
/// `/metrics` and of the log.
enum WebhookReply: Sendable {
    /// `completesRun`: the event completed its job or workflow (see `DeliveryOutcome.stored`).
    case stored(id: String, completesRun: Bool)
    case duplicate(id: String)
    case rejected(reason: String)
    case unauthorized(SignatureVerifier.Refusal)
    case tooLarge(limit: Int)
    case unavailable(reason: String)

    /// The `outcome` label: every case has its series in `/metrics` from the start.
    enum Outcome: String, Sendable, CaseIterable {
        case stored
        case duplicate
        case unauthorized
        case rejected
        case tooLarge = "too_large"
        case unavailable
    }

    init(_ outcome: DeliveryOutcome) {
        switch outcome {
        case .stored(let id, let completesRun): self = .stored(id: id, completesRun: completesRun)
        case .duplicate(let id): self = .duplicate(id: id)
        case .rejected(let reason): self = .rejected(reason: reason)
        }
    }

    var outcome: Outcome {
        switch self {
        case .stored: .stored
        case .duplicate: .duplicate
        case .rejected: .rejected
        case .unauthorized: .unauthorized
        case .tooLarge: .tooLarge
        case .unavailable: .unavailable
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .stored, .duplicate: .ok
        case .rejected: .badRequest
        // The same answer for every refusal: it must not tell a forger what to fix.
        case .unauthorized: .unauthorized
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        }
    }

    var body: ReplyBody {
        switch self {
        case .stored(let id, _): ReplyBody(status: "stored", id: id)
        case .duplicate(let id): ReplyBody(status: "duplicate", id: id)
        case .rejected(let reason): ReplyBody(status: "rejected", error: reason)
        case .unauthorized: ReplyBody(error: "missing or invalid circleci-signature")
        case .tooLarge(let limit): ReplyBody(error: "body larger than \(limit) bytes")
        case .unavailable: ReplyBody(error: "archive unavailable, retry later")
        }
    }

    var response: Response {
        // An oversized body is not worth reading to its end: answer and close the connection.
        body.response(status, headers: outcome == .tooLarge ? [.connection: "close"] : [:])
    }

    /// Stored and duplicate deliveries are routine; the operator looks at anything else.
    var logLevel: Logger.Level {
        switch self {
        case .stored, .duplicate: .info
        case .rejected, .unauthorized, .tooLarge: .warning
        case .unavailable: .error
        }
    }

    var logMessage: Logger.Message {
        switch self {
        case .stored: "delivery stored"
        case .duplicate: "delivery duplicate"
        case .rejected: "delivery rejected"
        case .unauthorized: "delivery unauthorized"
        case .tooLarge: "delivery too large"
        case .unavailable: "delivery not stored: archive unavailable"
        }
    }

    /// The line's field beside `outcome`: the event id, or why it was not stored.
    var logDetail: (key: String, value: String)? {
        switch self {
        case .stored(let id, _), .duplicate(let id): ("id", id)
        case .rejected(let reason), .unavailable(let reason): ("reason", reason)
        case .unauthorized(let refusal): ("reason", refusal.rawValue)
        case .tooLarge: nil
        }
    }
}
