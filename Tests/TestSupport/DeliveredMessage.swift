/// A delivered message without the trace fields Postie adds (`Return-Path:` and the folded
/// `Received:` field), so tests can compare what the client sent.
public func body(_ delivered: String) -> String {
    var lines = delivered.split(separator: "\n", omittingEmptySubsequences: false)
    if lines.first?.hasPrefix("Return-Path:") == true { lines.removeFirst() }
    if lines.first?.hasPrefix("Received:") == true {
        lines.removeFirst()
        while lines.first?.hasPrefix("\t") == true { lines.removeFirst() }
    }
    return lines.joined(separator: "\n")
}
