import ArchiveModel
import ArchiveStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `POST /webhooks/circleci`: size check, signature check, then the store's single ingest path;
/// `WebhookReply` says what each ending answers.
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
            return reply(.tooLarge(limit: maxBodyBytes), exchange)
        }
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: maxBodyBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            return reply(.tooLarge(limit: maxBodyBytes), exchange)
        }
        if let verifier, let refusal = verifier.refusal(body: body, headerValues: request.headers[values: Self.signatureHeader]) {
            return reply(.unauthorized(refusal), exchange)
        }
        let delivery = PreparedDelivery(body: body, headers: request.headers.map { ($0.name.canonicalName, $0.value) })
        exchange.event = delivery.event
        do {
            return reply(WebhookReply(try await store.receive(delivery)), exchange)
        } catch {
            return reply(.unavailable(reason: error.message), exchange)
        }
    }

    /// What the reply's log line and metrics need to know about the request.
    struct Exchange {
        let started = ContinuousClock.now
        let context: ArchiveRequestContext
        /// The header's claim of the event type, until the body parsed.
        let claimedType: String?
        /// The parsed event, once the signature was checked.
        var event: WebhookEvent?

        init(request: Request, context: ArchiveRequestContext) {
            self.context = context
            claimedType = request.headers[WebhookController.eventTypeHeader]
        }

        var eventType: String? { event?.type ?? claimedType }
    }

    /// Answers, logs and counts a delivery: `WebhookReply` decides what each of them says.
    private func reply(_ reply: WebhookReply, _ exchange: Exchange) -> Response {
        let latency = ContinuousClock.now - exchange.started
        metrics.delivered(reply, event: exchange.event, type: exchange.eventType, duration: latency)
        // The line's fields are formatted only when it is written: at --log-level warning, a stored
        // delivery costs no formatting at all. Warnings name the peer, to find a misconfigured or
        // hostile sender.
        let level = reply.logLevel
        if logger.logLevel <= level {
            // Milliseconds to the microsecond: 4.787, not 4.787443000000001.
            let milliseconds = (latency / .microseconds(1)).rounded() / 1000
            var metadata: Logger.Metadata = ["outcome": "\(reply.outcome.rawValue)", "latency_ms": .stringConvertible(milliseconds)]
            if let type = exchange.eventType { metadata["type"] = "\(type)" }
            if let detail = reply.logDetail { metadata[detail.key] = "\(detail.value)" }
            if level >= .warning { metadata["peer"] = "\(exchange.context.peer)" }
            logger.log(level: level, reply.logMessage, metadata: metadata)
        }
        return reply.response
    }
}
