import NIOCore
import NIOSSL
import NIOTLS

/// Starts TLS on a channel that has been speaking plaintext (STARTTLS, RFC 3207), or as it opens
/// (implicit TLS, RFC 8314), and tells when the handshake is done.
public enum TLSHandshake {
    /// Adds the TLS handler nearest the socket, then waits for the handshake. Anything already
    /// written and flushed (the `220 Ready to start TLS`) goes out in the clear before it.
    public static func startServer(on channel: Channel, context: NIOSSLContext) -> EventLoopFuture<Void> {
        start(on: channel, sniffCipher: true) { NIOSSLServerHandler(context: context) }
    }

    public static func startClient(on channel: Channel, context: NIOSSLContext, serverHostname: String?) -> EventLoopFuture<Void> {
        start(on: channel) { try NIOSSLClientHandler(context: context, serverHostname: serverHostname) }
    }

    private static func start(
        on channel: Channel, sniffCipher: Bool = false, makeHandler: @escaping @Sendable () throws -> ChannelHandler
    ) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            do {
                let waiter = HandshakeWaiter(promise: promise)
                try channel.pipeline.syncOperations.addHandler(makeHandler(), position: .first)
                if sniffCipher { try channel.pipeline.syncOperations.addHandler(ServerHelloSniffer(), position: .first) }
                try channel.pipeline.syncOperations.addHandler(waiter, position: .after(try channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)))
            } catch {
                promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// The cipher suite a server channel's TLS negotiated, when a `ServerHelloSniffer` saw it.
    public static func negotiatedCipher(on pipeline: ChannelPipeline.SynchronousOperations) -> String? {
        (try? pipeline.handler(type: ServerHelloSniffer.self))?.cipher
    }

    /// `TLSv1.3` and the like, for the `Received:` field.
    public static func describe(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLSv1"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }
}

/// Completes a promise when the TLS handshake finishes (or fails, or the channel closes first).
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var promise: EventLoopPromise<Void>?

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case TLSUserEvent.handshakeCompleted = event {
            promise?.succeed()
            promise = nil
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise?.fail(error)
        promise = nil
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.alreadyClosed)
        promise = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }
}
