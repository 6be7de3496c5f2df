#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOConcurrencyHelpers
import SMTPCore
import Storage

/// Log lines for a file descriptor (standard error), written by a thread of its own a batch at a
/// time (a `BatchThread`): a busy server logs several lines per message, and a `write(2)` for
/// each, under a lock the event loops share, costs more than the rest of the line. The thread
/// rests `interval` after each write, so lines wait at most about that long and the lines of that
/// time share the next write; `error` and worse are written before `log` returns, and `flush`
/// writes everything (the server calls it when it stops). A `kill -9` loses at most the last few
/// milliseconds of lines, never mail. Written by hand: swift-log's `StreamLogHandler` writes (and
/// flushes) each line under a lock and looks up the time zone file for every line.
public final class LogWriter: Sendable {
    public static let standardError = LogWriter(fd: 2)

    /// How long the writer rests after a write, so that the lines of that time share the next.
    public static let interval = Duration.milliseconds(5)

    private enum Request {
        case line(String)
        /// Signalled once every line queued before it is written.
        case flush(DispatchSemaphore)
    }

    private let thread: BatchThread<Request>

    public init(fd: Int32) {
        thread = BatchThread<Request>(
            name: "postie-log", gather: Self.interval,
            process: { batch in Self.write(batch, to: fd) },
            // The writer is never stopped; were it, a line would still be written, at once.
            refuse: { Self.write([$0], to: fd) })
        thread.start()
    }

    /// Queues a line (it should end with a newline); `urgent` writes it before returning.
    public func write(_ line: String, urgent: Bool = false) {
        thread.submit(.line(line))
        if urgent { flush() }
    }

    /// Returns once every line queued before the call is written.
    public func flush() {
        let done = DispatchSemaphore(value: 0)
        thread.submit(.flush(done))
        done.wait()
    }

    private static func write(_ batch: [Request], to fd: Int32) {
        var out: [UInt8] = []
        var flushed: [DispatchSemaphore] = []
        for request in batch {
            switch request {
            case .line(let line): out.append(contentsOf: line.utf8)
            case .flush(let done): flushed.append(done)
            }
        }
        var offset = 0
        while offset < out.count {
            let n = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, out.count - offset) }
            if n < 0 && errno == EINTR { continue }
            // A log that cannot be written (a closed descriptor, a full disk) must not stop
            // the server: the lines are dropped.
            if n <= 0 { break }
            offset += n
        }
        for done in flushed { done.signal() }
    }
}

/// swift-log's line format (`<time> <level> <label>: <key=value …> [<module>] <message>`), written
/// through a `LogWriter`.
public struct PostieLogHandler: LogHandler {
    /// One line per event either way, with the same fields.
    public enum Format: String, Sendable, CaseIterable {
        /// `<time> <level> <label>: key=value … [<source>] <message>`: swift-log's layout, values
        /// quoted as logfmt quotes them when they hold a space, a quote or `=`.
        case text
        /// One JSON object: `time`, `level`, `label`, `source`, `message` and the metadata keys.
        case json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let writer: LogWriter
    private let format: Format

    public init(
        label: String, writer: LogWriter = .standardError, format: Format = .text,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.writer = writer
        self.format = format
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Keys in order, as swift-log prints them. Usually the logger's own keys (a connection's
        // conn and client) and the line's are different and nothing else is added: a sorted array
        // of the two, without merging dictionaries.
        let explicit = event.metadata ?? [:]
        let provided = metadataProvider?.get() ?? [:]
        var pairs: [(key: String, value: Logger.MetadataValue)]
        if provided.isEmpty, event.error == nil, !metadata.keys.contains(where: { explicit[$0] != nil }) {
            pairs = Array(metadata)
            pairs.append(contentsOf: explicit)
        } else {
            var all = metadata
            if !provided.isEmpty { all.merge(provided) { $1 } }
            if !explicit.isEmpty { all.merge(explicit) { $1 } }
            if let error = event.error {
                all["error.message"] = "\(error)"
                all["error.type"] = "\(String(reflecting: type(of: error)))"
            }
            pairs = Array(all)
        }
        pairs.sort { $0.key < $1.key }
        var line = Self.timestamp()
        line.reserveCapacity(256)
        switch format {
        case .text:
            line += " \(event.level) \(label):"
            for (key, value) in pairs {
                line += " \(key)="
                Self.appendLogfmt("\(value)", to: &line)
            }
            line += " [\(event.source)] "
            let message = "\(event.message)"
            if message.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F }), message.unicodeScalars.contains(where: AddressGrammar.isMisleading) {
                QuotedText.appendEscaped(message, to: &line)
            } else {
                line += message
            }
            line += "\n"
        case .json:
            line = "{\"time\":\"\(line)\",\"level\":\"\(event.level)\",\"label\":"
            QuotedText.append(label, to: &line)
            line += ",\"source\":"
            QuotedText.append(event.source, to: &line)
            line += ",\"message\":"
            QuotedText.append("\(event.message)", to: &line)
            for (key, value) in pairs where !Self.reservedJSONKeys.contains(key) {
                line += ","
                QuotedText.append(key, to: &line)
                line += ":"
                QuotedText.append("\(value)", to: &line)
            }
            line += "}\n"
        }
        writer.write(line, urgent: event.level >= .error)
    }

    private static let reservedJSONKeys: Set<String> = ["time", "level", "label", "source", "message"]

    /// A logfmt value: as it is when it is a plain word, else in quotes with `"` and `\` escaped
    /// and control characters written as escapes, so that every line stays one line.
    static func appendLogfmt(_ value: String, to line: inout String) {
        var plain = !value.isEmpty && value.utf8.allSatisfy { $0 > 32 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != 127 }
        if plain, value.utf8.contains(where: { $0 >= 0x80 }) { plain = !value.unicodeScalars.contains(where: AddressGrammar.isMisleading) }
        if plain {
            line += value
            return
        }
        QuotedText.append(value, to: &line)
    }

    /// Local time, as swift-log prints it, made once a second. `localtime_r` does not look at the
    /// time zone file again (`localtime` does, for every line).
    static func timestamp() -> String {
        let now = time(nil)
        if let cached = lastTimestamp.withLockedValue({ $0.time == now ? $0.text : nil }) { return cached }
        var t = now
        var local = tm()
        localtime_r(&t, &local)
        var buffer = [Int8](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        lastTimestamp.withLockedValue { $0 = (now, text) }
        return text
    }

    private static let lastTimestamp = NIOLockedValueBox<(time: time_t, text: String)>((0, ""))
}
