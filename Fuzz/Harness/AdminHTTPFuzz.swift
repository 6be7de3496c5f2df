import AdminHTTP
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The admin listener's handling of outside input: the input is a byte stream on a connection,
/// through the same SwiftNIO HTTP server pipeline the listener builds, our request assembly, and
/// the routes. Checks that:
/// - feeding it whole or in pieces gives the same requests and the same answers;
/// - a route that names a queue id takes one path segment, and the queue list's page is in range;
/// - percent-decoding undoes percent-encoding (every query value read encodes back to itself).
extension SMTPFuzzHarness {
    public static func checkAdminHTTP(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        var problems: [String] = []
        let whole = serveAdmin([stream])
        let cut = serveAdmin(pieces)
        if whole.requests != cut.requests { problems.append("admin requests differ whole and in pieces") }
        // The answers to those requests; what SwiftNIO's pipeline says after a connection closes
        // (400 to bytes a client sent past `Connection: close`) depends on how they were read.
        if whole.answers.prefix(whole.requests.count) != cut.answers.prefix(cut.requests.count) {
            problems.append("admin answers differ whole and in pieces")
        }
        for request in whole.requests {
            switch AdminRoute(request) {
            case .show(let id), .delete(let id), .attempts(let id), .act(_, let id):
                if id.isEmpty || id.contains("/") { problems.append("admin route took \"\(id)\" for a queue id") }
            case .queueList(let q):
                if !(1...1000).contains(q.limit) || q.offset < 0 || q.olderThan < 0 { problems.append("admin queue page out of range") }
            default:
                break
            }
            for value in request.query.values {
                let encoded = value.utf8.map { "%" + String($0, radix: 16) .leftPadded(2) }.joined()
                if AdminRequest.percentDecoded(Substring(encoded)) != value { problems.append("percent-decoding does not undo encoding") }
            }
        }
        return problems
    }

    /// What a connection to the admin listener made of these reads: the requests answered, and
    /// the answers' status lines.
    public static func serveAdmin(_ reads: [[UInt8]]) -> (requests: [AdminRequest], answers: [String]) {
        let channel = EmbeddedChannel()
        let collector = AdminRequestCollector()
        do {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(collector)
            // Active, as an accepted connection is.
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9025)).wait()
        } catch {
            return ([], ["pipeline: \(error)"])
        }
        for read in reads where channel.isActive {
            do { try channel.writeInbound(ByteBuffer(bytes: read)) } catch { break }
        }
        var answers: [String] = []
        while let out = try? channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = out else { continue }
            let text = String(buffer: buffer)
            if text.hasPrefix("HTTP/"), let status = text.split(separator: "\r\n", maxSplits: 1).first { answers.append(String(status)) }
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return (collector.requests, answers)
    }
}

/// The end of the fuzzed pipeline: gathers requests as the listener does and answers each with
/// its route's status at once (the real answers need a server behind them).
final class AdminRequestCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var assembler = AdminRequestAssembler(maxBody: 4096)
    private(set) var requests: [AdminRequest] = []
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, let complete = assembler.take(unwrapInboundIn(data)) else { return }
        requests.append(complete.request)
        let status: HTTPResponseStatus
        switch AdminRoute(complete.request) {
        case .notFound: status = .notFound
        case .notAllowed: status = .methodNotAllowed
        case .badRequest: status = .badRequest
        default: status = complete.bodyTooLarge ? .payloadTooLarge : .ok
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        if !complete.keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: complete.version, status: status, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !complete.keepAlive {
            closing = true
            context.close(promise: nil)
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
