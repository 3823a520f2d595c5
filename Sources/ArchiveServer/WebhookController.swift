import ArchiveModel
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
    let metrics: ArchiveMetrics
    let logger: Logger

    func addRoutes(to router: Router<ArchiveRequestContext>) {
        router.post(RouterPath(stringLiteral: Self.path)) { request, context in
            try await receive(request, context: context)
        }
    }

    func receive(_ request: Request, context: ArchiveRequestContext) async throws -> Response {
        var exchange = Exchange(request: request, context: context)
        if let announced = request.headers[.contentLength].flatMap(Int.init), announced > maxBodyBytes {
            return reply(.tooLarge, exchange)
        }
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            return reply(.tooLarge, exchange)
        }
        if let verifier, let refusal = verifier.refusal(body: body, headerValues: request.headers[values: Self.signatureHeader]) {
            return reply(.unauthorized(refusal), exchange)
        }
        let delivery = PreparedDelivery(body: body, headers: request.headers.map { ($0.name.canonicalName, $0.value) })
        let event = delivery.event
        if let event { exchange.eventType = event.type }
        do {
            switch try await store.receive(delivery) {
            case .stored(let id, let completesRun):
                if let event { metrics.archived(event, completesRun: completesRun) }
                return reply(.stored(id: id), exchange)
            case .duplicate(let id): return reply(.duplicate(id: id), exchange)
            case .rejected(let reason): return reply(.rejected(reason: reason), exchange)
            }
        } catch {
            return reply(.unavailable(reason: error.message), exchange)
        }
    }

    /// What the reply's log line and metrics need to know about the request.
    struct Exchange {
        let started = ContinuousClock.now
        let context: ArchiveRequestContext
        /// The body's type once it parsed; until then the header's claim.
        var eventType: String?

        init(request: Request, context: ArchiveRequestContext) {
            self.context = context
            eventType = request.headers[WebhookController.eventTypeHeader]
        }
    }

    /// How a delivery ended; decides its status, body and log line in one place.
    enum Outcome {
        case stored(id: String)
        case duplicate(id: String)
        case rejected(reason: String)
        case unauthorized(SignatureVerifier.Refusal)
        case tooLarge
        case unavailable(reason: String)
    }

    private func reply(_ outcome: Outcome, _ exchange: Exchange) -> Response {
        let response: Response
        let level: Logger.Level
        let message: Logger.Message
        let label: ArchiveMetrics.Outcome
        var detail: (key: String, value: String)?
        switch outcome {
        case .stored(let id):
            (label, level, message, detail) = (.stored, .info, "delivery stored", ("id", id))
            response = .json(.ok, #"{"status":"stored","id":\#(JSONText.quoted(id))}"#)
        case .duplicate(let id):
            (label, level, message, detail) = (.duplicate, .info, "delivery duplicate", ("id", id))
            response = .json(.ok, #"{"status":"duplicate","id":\#(JSONText.quoted(id))}"#)
        case .rejected(let reason):
            (label, level, message, detail) = (.rejected, .warning, "delivery rejected", ("reason", reason))
            response = .json(.badRequest, #"{"status":"rejected","error":\#(JSONText.quoted(reason))}"#)
        case .unauthorized(let refusal):
            (label, level, message, detail) = (.unauthorized, .warning, "delivery unauthorized", ("reason", refusal.rawValue))
            response = .json(.unauthorized, #"{"error":"missing or invalid circleci-signature"}"#)
        case .tooLarge:
            (label, level, message) = (.tooLarge, .warning, "delivery too large")
            // The rest of the body is not worth reading: answer and close the connection.
            var tooLarge = Response.json(.contentTooLarge, #"{"error":"body larger than \#(maxBodyBytes) bytes"}"#)
            tooLarge.headers[.connection] = "close"
            response = tooLarge
        case .unavailable(let reason):
            (label, level, message, detail) = (.unavailable, .error, "delivery not stored: archive unavailable", ("reason", reason))
            response = .json(.serviceUnavailable, #"{"error":"archive unavailable, retry later"}"#)
        }
        let latency = ContinuousClock.now - exchange.started
        metrics.delivery(type: exchange.eventType, outcome: label, duration: latency)
        // The line's fields are formatted only when it is written: at --log-level warning, a stored
        // delivery costs no formatting at all. Warnings name the peer, to find a misconfigured or
        // hostile sender.
        if logger.logLevel <= level {
            // Milliseconds to the microsecond: 4.787, not 4.787443000000001.
            let milliseconds = (latency / .microseconds(1)).rounded() / 1000
            var metadata: Logger.Metadata = ["outcome": "\(label.rawValue)", "latency_ms": .stringConvertible(milliseconds)]
            if let type = exchange.eventType { metadata["type"] = "\(type)" }
            if let detail { metadata[detail.key] = "\(detail.value)" }
            if level >= .warning { metadata["peer"] = "\(exchange.context.peer)" }
            logger.log(level: level, message, metadata: metadata)
        }
        return response
    }
}
