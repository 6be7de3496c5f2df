import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SMTPNIO

/// A request to the admin listener, as its routes see it.
public struct AdminRequest: Sendable {
    public var method: String
    /// The path, without the query.
    public var path: String
    /// Query parameters (the last of a repeated name wins).
    public var query: [String: String]
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = Self.percentDecoded(kv[0])
                query[name] = kv.count == 2 ? Self.percentDecoded(kv[1]) : ""
            }
        }
        self.query = query
    }

    /// `%XX` and `+` decoded; a malformed escape is kept as it is. Written by hand: Foundation's
    /// decoding refuses the whole string for one bad escape.
    static func percentDecoded(_ text: Substring) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 3
                continue
            }
            out.append(bytes[i] == UInt8(ascii: "+") ? 0x20 : bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public struct AdminResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Further header fields (`Allow` with a 405).
    public var headers: [(String, String)] = []

    public init(status: Int, contentType: String = "application/json", body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }
}

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

/// One connection: gathers a request, answers it, keeps the connection when the client wants.
final class AdminHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (AdminRequest) async -> AdminResponse
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(respond: @escaping @Sendable (AdminRequest) async -> AdminResponse) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > AdminHTTPServer.maxBody {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = AdminRequest(method: head.method.rawValue, uri: head.uri, headers: headers, body: body)
            body = []
            let version = head.version
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: AdminResponse.self)
            if tooLarge {
                promise.succeed(AdminResponse(status: 413, body: Array(#"{"error":"request body too large"}"#.utf8)))
            } else {
                let respond = self.respond
                promise.completeWithTask { await respond(request) }
            }
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
}
