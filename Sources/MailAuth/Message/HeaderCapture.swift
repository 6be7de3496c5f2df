/// Keeps a message's header section as the message streams in (up to a limit) and hands back
/// the body as it comes: what a signer or a verifier needs, which reads the header whole and
/// only hashes the body. Lines are looked at once each, so a header sent a line at a time costs
/// no more than one sent at once.
struct HeaderCapture: Sendable {
    /// The header section, once it has ended.
    private(set) var section: RawHeaderSection?
    /// The header section grew past the limit before it ended; nothing more is kept.
    private(set) var tooLarge = false
    private var header: [UInt8] = []
    private var scanned = 0
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        header.reserveCapacity(4096)
    }

    /// Takes the next octets. While in the header section, returns nil; the call that ends it
    /// returns the octets after it (perhaps none); after that, every call returns its octets.
    mutating func add(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        guard section == nil else { return Array(bytes) }
        guard !tooLarge else { return nil }
        header.append(contentsOf: bytes)
        while let lf = header[scanned...].firstIndex(of: 10) {
            let line = header[scanned..<lf]
            let content = line.last == 13 ? line.dropLast() : line
            let ends: Bool
            if content.isEmpty {
                ends = true
            } else if content.first == 32 || content.first == 9 {
                ends = false
            } else {
                // A line that is not a field starts the body (RawHeaderSection decides the same).
                ends = !content.contains(UInt8(ascii: ":"))
            }
            scanned = lf + 1
            if ends {
                let parsed = RawHeaderSection(header)
                section = parsed
                let body = Array(header[parsed.bodyOffset...])
                header = []
                return body
            }
        }
        if header.count > limit {
            tooLarge = true
            header = []
        }
        return nil
    }

    /// The data ended inside the header section (no body): what there is is the header.
    mutating func end() {
        guard section == nil, !tooLarge else { return }
        section = RawHeaderSection(header)
        header = []
    }
}
