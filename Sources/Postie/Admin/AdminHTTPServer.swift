import AdminHTTP
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SMTPNIO

/// The admin listener (metrics, health, the API): HTTP/1.1 through SwiftNIO's parser, one request
/// at a time per connection, bodies up to `maxBody` octets. The answers come from `respond`.
final class AdminHTTPServer: Sendable {
    static let maxBody = 1024 * 1024
    private let channels: [any Channel]

    var addresses: [SocketAddress] { channels.compactMap(\.localAddress) }

    private init(channels: [any Channel]) {
        self.channels = channels
    }

    static func start(
        on addresses: [(host: String, port: Int)], group: any EventLoopGroup, logger: Logger,
        respond: @escaping @Sendable (AdminRequest) async -> AdminResponse
    ) async throws -> AdminHTTPServer {
        var channels: [any Channel] = []
        do {
            for address in addresses {
                let bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 64)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                            channel.pipeline.addHandler(AdminHTTPHandler(respond: respond))
                        }
                    }
                do {
                    channels.append(try await bootstrap.bind(host: address.host, port: address.port).get())
                } catch {
                    // The same words and exit status as an SMTP listener that cannot bind.
                    let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
                    throw SMTPServer.BindError(address: "\(address.host):\(address.port) ([admin] listen)", reason: reason)
                }
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return AdminHTTPServer(channels: channels)
    }

    func stop() async {
        for channel in channels { try? await channel.close() }
    }
}

/// One connection: gathers a request (`AdminRequestAssembler`), answers it, keeps the connection
/// when the client wants.
final class AdminHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (AdminRequest) async -> AdminResponse
    private var assembler = AdminRequestAssembler(maxBody: AdminHTTPServer.maxBody)

    init(respond: @escaping @Sendable (AdminRequest) async -> AdminResponse) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let complete = assembler.take(unwrapInboundIn(data)) else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: AdminResponse.self)
        if complete.bodyTooLarge {
            promise.succeed(AdminResponse(status: 413, body: Array(#"{"error":"request body too large"}"#.utf8)))
        } else {
            let respond = self.respond
            promise.completeWithTask { await respond(complete.request) }
        }
        let (version, keepAlive) = (complete.version, complete.keepAlive)
        promise.futureResult.whenSuccess { response in
            let context = bound.value
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: "\(response.body.count)")
            headers.add(name: "Cache-Control", value: "no-store")
            for (name, value) in response.headers { headers.add(name: name, value: value) }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let status = HTTPResponseStatus(statusCode: response.status)
            context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
            let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive { done.whenComplete { _ in bound.value.close(promise: nil) } }
        }
    }
}
