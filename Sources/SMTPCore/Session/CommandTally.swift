/// How many commands of each verb a session has read, for metrics. Kept in the session (which
/// does no I/O) and read by the connection after each read; fixed storage, so counting costs no
/// allocation on the hot path.
public struct CommandTally: Sendable {
    /// The verbs counted, by index; `unknown` is a line whose verb is none of these.
    public static let verbs: [String] = [
        "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH",
        "unknown",
    ]
    private static let unknown = verbs.count - 1

    private var counts = InlineArray<15, Int>(repeating: 0)
    /// Commands counted in all.
    public private(set) var total = 0

    public init() {}

    /// Counts a parsed command.
    public mutating func count(_ command: Command) {
        count(index: Self.index(of: command))
    }

    /// Counts a line that did not parse, under its verb when it names a known one (`MAIL` with a
    /// bad path is still a MAIL), else as `unknown`.
    public mutating func countUnparsed(_ line: [UInt8]) {
        let end = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
        let verb = end <= 8 ? String(decoding: line[..<end], as: UTF8.self).uppercased() : ""
        count(index: Self.verbs.firstIndex(of: verb) ?? Self.unknown)
    }

    private mutating func count(index: Int) {
        counts[index] += 1
        total += 1
    }

    /// Calls `body` with each verb counted here more often than in `earlier` (a tally this one grew
    /// from) and by how many.
    public func forEachVerb(grownSince earlier: CommandTally, _ body: (_ verb: String, _ count: Int) -> Void) {
        for i in counts.indices where counts[i] != earlier.counts[i] {
            body(Self.verbs[i], counts[i] - earlier.counts[i])
        }
    }

    private static func index(of command: Command) -> Int {
        switch command {
        case .helo: return 0
        case .ehlo: return 1
        case .mail: return 2
        case .rcpt: return 3
        case .data: return 4
        case .bdat: return 5
        case .rset: return 6
        case .noop: return 7
        case .quit: return 8
        case .vrfy: return 9
        case .expn: return 10
        case .help: return 11
        case .starttls: return 12
        case .auth: return 13
        }
    }
}
