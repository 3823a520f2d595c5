import ArchiveStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `POST /webhooks/circleci`: size check, signature check, then the store's single ingest path.
///
/// | answer | when |
/// |---|---|
/// | 200 `stored` | the event was committed |
/// | 200 `duplicate` | that event id was archived before; nothing changed |
/// | 400 | signed but not an acceptable event; kept in `rejected_deliveries` |
/// | 401 | missing or wrong signature; nothing is written anywhere |
/// | 413 | body larger than the limit |
/// | 503 | the store cannot commit now; CircleCI retries later |
struct WebhookController: Sendable {
    static let path = "/webhooks/circleci"
    static let signatureHeader = HTTPField.Name("circleci-signature")!
    static let eventTypeHeader = HTTPField.Name("circleci-event-type")!

    let store: ArchiveStore
    /// nil when the server runs with `--allow-unsigned`.
    let verifier: SignatureVerifier?
    let maxBodyBytes: Int
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post(RouterPath(stringLiteral: Self.path)) { request, context in
            try await receive(request, context: context)
        }
    }

    func receive(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        if let announced = request.headers[.contentLength].flatMap(Int.init), announced > maxBodyBytes {
            return reply(.tooLarge, request: request, started: started)
        }
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            return reply(.tooLarge, request: request, started: started)
        }
        if let verifier, !verifier.isAuthentic(body: body, headerValues: request.headers[values: Self.signatureHeader]) {
            return reply(.unauthorized, request: request, started: started)
        }
        let delivery = PreparedDelivery(body: body, headers: request.headers.map { ($0.name.canonicalName, $0.value) })
        do {
            switch try await store.receive(delivery) {
            case .stored(let id): return reply(.stored(id: id), request: request, started: started)
            case .duplicate(let id): return reply(.duplicate(id: id), request: request, started: started)
            case .rejected(let reason): return reply(.rejected(reason: reason), request: request, started: started)
            }
        } catch {
            return reply(.unavailable(reason: error.message), request: request, started: started)
        }
    }

    /// How a delivery ended; decides its status, body and log line in one place.
    enum Outcome {
        case stored(id: String)
        case duplicate(id: String)
        case rejected(reason: String)
        case unauthorized
        case tooLarge
        case unavailable(reason: String)
    }

    private func reply(_ outcome: Outcome, request: Request, started: ContinuousClock.Instant) -> Response {
        let response: Response
        let level: Logger.Level
        let message: Logger.Message
        var detail: (key: String, value: String)?
        switch outcome {
        case .stored(let id):
            (level, message, detail) = (.info, "delivery stored", ("id", id))
            response = .json(.ok, #"{"status":"stored","id":\#(JSONText.quoted(id))}"#)
        case .duplicate(let id):
            (level, message, detail) = (.info, "delivery duplicate", ("id", id))
            response = .json(.ok, #"{"status":"duplicate","id":\#(JSONText.quoted(id))}"#)
        case .rejected(let reason):
            (level, message, detail) = (.warning, "delivery rejected", ("reason", reason))
            response = .json(.badRequest, #"{"status":"rejected","error":\#(JSONText.quoted(reason))}"#)
        case .unauthorized:
            (level, message) = (.warning, "delivery unauthorized: missing or wrong circleci-signature")
            response = .json(.unauthorized, #"{"error":"missing or invalid circleci-signature"}"#)
        case .tooLarge:
            (level, message) = (.warning, "delivery too large")
            // The rest of the body is not worth reading: answer and close the connection.
            var tooLarge = Response.json(.contentTooLarge, #"{"error":"body larger than \#(maxBodyBytes) bytes"}"#)
            tooLarge.headers[.connection] = "close"
            response = tooLarge
        case .unavailable(let reason):
            (level, message, detail) = (.error, "delivery not stored: archive unavailable", ("reason", reason))
            response = .json(.serviceUnavailable, #"{"error":"archive unavailable, retry later"}"#)
        }
        // The line's fields are formatted only when it is written: at --log-level warning, a stored
        // delivery costs no formatting at all.
        if logger.logLevel <= level {
            var metadata: Logger.Metadata = ["latency_ms": "\((ContinuousClock.now - started) / .microseconds(1) / 1000)"]
            if let type = request.headers[Self.eventTypeHeader] { metadata["type"] = "\(type)" }
            if let detail { metadata[detail.key] = "\(detail.value)" }
            logger.log(level: level, message, metadata: metadata)
        }
        return response
    }
}
