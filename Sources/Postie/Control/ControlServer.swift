#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Listens on the control socket (`<data_dir>/control.sock`, mode 0600) for `postie queue …` and
/// `postie sendmail`.
final class ControlServer: Sendable {
    let path: String
    private let channel: Channel

    static let maxMessage = 1 << 30

    init(path: String, service: ControlService, group: EventLoopGroup) async throws {
        self.path = path
        unlink(path)  // a socket left by a server that did not stop cleanly
        // No umask change here: it is process-wide and would reach files other threads create.
        // The data directory is 0700, so nobody else can reach the socket before the chmod.
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlHandler(service: service))
                }
            }
            .bind(unixDomainSocketPath: path).get()
        chmod(path, 0o600)
    }

    func close() async {
        try? await channel.close()
        unlink(path)
    }
}

/// Reads one request (and a submitted message), answers, closes.
final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: ControlService
    private var buffer = ByteBuffer()
    private var request: ControlRequest?
    private var answered = false

    init(service: ControlService) {
        self.service = service
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        guard !answered else { return }
        if request == nil {
            guard let lf = buffer.readableBytesView.firstIndex(of: 10) else {
                if buffer.readableBytes > 64 * 1024 { respond(context, .failure("request line too long")) }
                return
            }
            let line = buffer.readBytes(length: lf - buffer.readerIndex)!
            buffer.moveReaderIndex(forwardBy: 1)
            guard let r = try? JSONDecoder().decode(ControlRequest.self, from: Data(line)) else {
                respond(context, .failure("malformed request"))
                return
            }
            request = r
        }
        guard let request else { return }
        let length = request.length ?? 0
        guard length >= 0, length <= ControlServer.maxMessage else {
            respond(context, .failure("message too large"))
            return
        }
        guard buffer.readableBytes >= length else { return }
        let message = buffer.readBytes(length: length) ?? []
        answered = true
        let service = self.service
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: ControlResponse.self)
        promise.completeWithTask { await service.handle(request, message: message) }
        promise.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            handler.respond(context, response)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ response: ControlResponse) {
        answered = true
        var out = context.channel.allocator.buffer(capacity: 256)
        out.writeBytes((try? JSONEncoder().encode(response)) ?? Data("{\"ok\":false}".utf8))
        out.writeStaticString("\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }
}
