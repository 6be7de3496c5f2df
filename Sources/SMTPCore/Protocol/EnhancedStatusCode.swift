/// An enhanced mail system status code, `class.subject.detail` (RFC 3463), carried in replies as
/// RFC 2034 describes.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    public var statusClass: Int
    public var subject: Int
    public var detail: Int

    public init(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `"5.1.1"`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let c = Int(parts[0]), [2, 4, 5].contains(c),
            let s = Int(parts[1]), (0...999).contains(s),
            let d = Int(parts[2]), (0...999).contains(d)
        else { return nil }
        self.init(c, s, d)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}
