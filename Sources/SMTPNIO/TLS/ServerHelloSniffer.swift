import NIOCore

/// Finds the cipher suite a TLS server chose by reading its ServerHello on the way out.
/// swift-nio-ssl tells the negotiated version but not the cipher, and the `Received:` field names
/// both (as Postfix's does); the ServerHello is sent in the clear in every TLS version, so the
/// suite can be read from the first handshake record. Written by hand for that reason only: it
/// parses the few fixed fields in front of the suite and nothing else.
public enum TLSServerHello {
    public enum Parse: Equatable, Sendable {
        case needMore
        case cipherSuite(UInt16)
        /// Not a ServerHello record: give up.
        case notServerHello
    }

    /// Reads `record(22) version(2) length(2) | type(2=ServerHello) length(3) version(2)
    /// random(32) session_id<0..32> cipher_suite(2)` (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
    public static func parse(_ bytes: some Collection<UInt8>) -> Parse {
        let b = Array(bytes.prefix(5 + 4 + 2 + 32 + 1 + 32 + 2))
        guard let first = b.first else { return .needMore }
        guard first == 22 else { return .notServerHello }
        guard b.count >= 6 else { return .needMore }
        guard b[5] == 2 else { return .notServerHello }
        let sessionIDLengthAt = 5 + 4 + 2 + 32
        guard b.count > sessionIDLengthAt else { return .needMore }
        let sessionIDLength = Int(b[sessionIDLengthAt])
        guard sessionIDLength <= 32 else { return .notServerHello }
        let suiteAt = sessionIDLengthAt + 1 + sessionIDLength
        guard b.count >= suiteAt + 2 else { return .needMore }
        return .cipherSuite(UInt16(b[suiteAt]) << 8 | UInt16(b[suiteAt + 1]))
    }

    /// The suite's name as OpenSSL (and so Postfix's `Received:` fields) gives it.
    public static func name(of suite: UInt16) -> String {
        switch suite {
        case 0x1301: return "TLS_AES_128_GCM_SHA256"
        case 0x1302: return "TLS_AES_256_GCM_SHA384"
        case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256"
        case 0xC02B: return "ECDHE-ECDSA-AES128-GCM-SHA256"
        case 0xC02C: return "ECDHE-ECDSA-AES256-GCM-SHA384"
        case 0xC02F: return "ECDHE-RSA-AES128-GCM-SHA256"
        case 0xC030: return "ECDHE-RSA-AES256-GCM-SHA384"
        case 0xCCA8: return "ECDHE-RSA-CHACHA20-POLY1305"
        case 0xCCA9: return "ECDHE-ECDSA-CHACHA20-POLY1305"
        case 0xC009: return "ECDHE-ECDSA-AES128-SHA"
        case 0xC00A: return "ECDHE-ECDSA-AES256-SHA"
        case 0xC013: return "ECDHE-RSA-AES128-SHA"
        case 0xC014: return "ECDHE-RSA-AES256-SHA"
        case 0x009C: return "AES128-GCM-SHA256"
        case 0x009D: return "AES256-GCM-SHA384"
        case 0x002F: return "AES128-SHA"
        case 0x0035: return "AES256-SHA"
        default:
            let hex = String(suite, radix: 16, uppercase: true)
            return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }
}

/// Sits between the TLS handler and the socket and reads the server's first handshake record
/// (see `TLSServerHello`): on its way out at a server, on its way in at a client. After that,
/// everything passes through untouched.
public final class ServerHelloSniffer: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Which side of the handshake this end is: a client reads the ServerHello coming in.
    public enum Side: Sendable { case server, client }

    /// The negotiated suite's name, once the ServerHello passed.
    public private(set) var cipher: String?
    private let side: Side
    private var seen: [UInt8] = []
    private var done = false

    public init(side: Side = .server) {
        self.side = side
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !done, side == .server { look(at: unwrapOutboundIn(data)) }
        context.write(data, promise: promise)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done, side == .client { look(at: unwrapInboundIn(data)) }
        context.fireChannelRead(data)
    }

    private func look(at buffer: ByteBuffer) {
        seen += buffer.readableBytesView.prefix(512 - seen.count)
        switch TLSServerHello.parse(seen) {
        case .needMore:
            if seen.count >= 512 { finish() }
        case .cipherSuite(let suite):
            cipher = TLSServerHello.name(of: suite)
            finish()
        case .notServerHello:
            finish()
        }
    }

    private func finish() {
        done = true
        seen = []
    }
}
