import NIOHTTP1

/// Gathers SwiftNIO's HTTP request parts (head, body pieces, end) into whole `AdminRequest`s,
/// keeping at most `maxBody` octets of a body. Pure: the channel handler feeds it, and so does
/// the fuzzer.
public struct AdminRequestAssembler: Sendable {
    /// A request, complete.
    public struct Complete: Sendable {
        public var request: AdminRequest
        public var version: HTTPVersion
        public var keepAlive: Bool
        /// The body was longer than `maxBody` (and is not in `request`): answer 413.
        public var bodyTooLarge: Bool
    }

    public let maxBody: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    public init(maxBody: Int) {
        self.maxBody = maxBody
    }

    /// Takes one part; returns the request its `end` completes.
    public mutating func take(_ part: HTTPServerRequestPart) -> Complete? {
        switch part {
        case .head(let h):
            head = h
            body = []
            tooLarge = false
            return nil
        case .body(let buffer):
            if tooLarge || body.count + buffer.readableBytes > maxBody {
                tooLarge = true
                body = []
            } else {
                body += buffer.readableBytesView
            }
            return nil
        case .end:
            guard let head else { return nil }
            self.head = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = AdminRequest(method: head.method.rawValue, uri: head.uri, headers: headers, body: tooLarge ? [] : body)
            body = []
            return Complete(request: request, version: head.version, keepAlive: head.isKeepAlive, bodyTooLarge: tooLarge)
        }
    }
}
