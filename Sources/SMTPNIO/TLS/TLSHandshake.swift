import NIOCore
import NIOSSL
import NIOTLS

/// Starts TLS on a channel that has been speaking plaintext (STARTTLS, RFC 3207), or as it opens
/// (implicit TLS, RFC 8314), and tells when the handshake is done.
public enum TLSHandshake {
    /// Adds the TLS handler nearest the socket, then waits for the handshake. Anything already
    /// written and flushed (the `220 Ready to start TLS`) goes out in the clear before it.
    public static func startServer(on channel: Channel, context: NIOSSLContext) -> EventLoopFuture<Void> {
        start(on: channel) { pipeline in try addServerHandlers(to: pipeline, context: context, position: .first) }
    }

    /// The server side of TLS: swift-nio-ssl's handler and, nearer the socket, the
    /// `ServerHelloSniffer` that learns the cipher suite. For STARTTLS and implicit TLS alike.
    public static func addServerHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, context: NIOSSLContext, position: ChannelPipeline.SynchronousOperations.Position
    ) throws {
        try pipeline.addHandler(NIOSSLServerHandler(context: context), position: position)
        try pipeline.addHandler(ServerHelloSniffer(), position: .before(try pipeline.handler(type: NIOSSLHandler.self)))
    }

    public static func startClient(on channel: Channel, context: NIOSSLContext, serverHostname: String?) -> EventLoopFuture<Void> {
        start(on: channel) { pipeline in
            try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname), position: .first)
            // For the delivery transcript: the suite the server chose (see `ServerHelloSniffer`).
            try pipeline.addHandler(ServerHelloSniffer(side: .client), position: .before(try pipeline.handler(type: NIOSSLHandler.self)))
        }
    }

    private static func start(
        on channel: Channel, addHandlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            do {
                let pipeline = channel.pipeline.syncOperations
                try addHandlers(pipeline)
                try pipeline.addHandler(HandshakeWaiter(promise: promise), position: .after(try pipeline.handler(type: NIOSSLHandler.self)))
            } catch {
                promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// The cipher suite a channel's TLS negotiated, when a `ServerHelloSniffer` saw it.
    /// Call once the handshake is done: the sniffer leaves the pipeline, so later writes do not
    /// pass through it.
    public static func takeNegotiatedCipher(from pipeline: ChannelPipeline.SynchronousOperations) -> String? {
        guard let sniffer = try? pipeline.handler(type: ServerHelloSniffer.self) else { return nil }
        pipeline.removeHandler(sniffer, promise: nil)
        return sniffer.cipher
    }

    /// What a channel's finished handshake settled: `TLSv1.3 TLS_AES_256_GCM_SHA384`, or as much
    /// of it as is known. Takes the sniffer out (see `takeNegotiatedCipher`).
    public static func takeSummary(from pipeline: ChannelPipeline.SynchronousOperations) -> (version: String?, cipher: String?) {
        let version = (try? pipeline.nioSSL_tlsVersion()).flatMap { $0 }.map(describe)
        return (version, takeNegotiatedCipher(from: pipeline))
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
