import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1 channel with a deadline on every request, so a client sending one byte a
/// second (in its headers or its body) cannot hold a connection: a request must be answered
/// within `timeout` of its first byte, or the client gets 408 and the connection closes.
///
/// The deadline sits on raw bytes, before HTTP decoding, because that is the only place a
/// half-sent request head is visible. Idle keep-alive connections are closed by Hummingbird's
/// own idle timeout.
struct DeadlineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let timeout: TimeAmount
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(timeout: timeout, logger: self.logger))
        }.flatMap {
            http1.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// Starts a timer at the first byte of a request and stops it at the first byte of the response.
/// The timer covers reading and processing: processing is bounded by the store's busy timeout,
/// which is far below the request timeout, so only a slow sender reaches it.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?
    private var answering = false

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    static let timeoutResponse: ByteBuffer = {
        let body = ReplyBody(error: "request not received in time").json
        return ByteBuffer(
            string: "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n"
                + "content-length: \(body.utf8.count)\r\n\r\n\(body)"
        )
    }()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadline == nil && !answering {
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) {
                loopBound.value.handler.expire(context: loopBound.value.context)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        cancelDeadline()
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    private func expire(context: ChannelHandlerContext) {
        deadline = nil
        answering = true
        logger.warning(
            "request timed out: not received within \(timeout.nanoseconds / 1_000_000) ms",
            metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")"]
        )
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(Self.timeoutResponse))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
