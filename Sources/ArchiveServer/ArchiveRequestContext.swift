import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's basic context plus the peer's address, which
/// the warnings for unauthorized and rejected deliveries name. Behind a reverse proxy the peer is
/// the proxy.
public struct ArchiveRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer as `address:port`, or `unknown` (a test channel has none).
    var peer: String {
        guard let remoteAddress else { return "unknown" }
        guard let ip = remoteAddress.ipAddress else { return "\(remoteAddress)" }
        return remoteAddress.port.map { remoteAddress.protocol == .inet6 ? "[\(ip)]:\($0)" : "\(ip):\($0)" } ?? ip
    }
}
