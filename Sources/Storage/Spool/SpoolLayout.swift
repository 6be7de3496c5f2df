#if canImport(Glibc)
import Glibc
#endif

/// Where the spool keeps things, under its root:
///
/// - `msg/<id>`: the message as received (CRLF, dot-stuffing removed, our `Received:` first),
///   followed by the envelope it was committed with;
/// - `env/<id>`: its envelope once it has changed (recipient states); until then the envelope
///   is in the trailer of `msg/<id>` (`EnvelopeTrailer`), whose presence means committed;
/// - `tmp/`: updated envelopes being written;
/// - `quarantine/`: records that could not be read, set aside for a person to look at.
public struct SpoolLayout: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public var dataDirectory: String { root + "/msg" }
    public var envelopeDirectory: String { root + "/env" }
    public var tmpDirectory: String { root + "/tmp" }
    public var quarantineDirectory: String { root + "/quarantine" }
    /// The transcripts of delivery attempts, one file per message (`postie trace`).
    public var traceDirectory: String { root + "/trace" }
    public func tracePath(_ id: String) -> String { traceDirectory + "/" + id }

    public func dataPath(_ id: String) -> String { dataDirectory + "/" + id }
    public func envelopePath(_ id: String) -> String { envelopeDirectory + "/" + id }
    public func tmpPath(_ id: String) -> String { tmpDirectory + "/" + id }

    /// Creates `msg/<id>` for writing (blocking). Exclusive, so that an id can never be used twice.
    func createDataFile(_ id: String) throws -> Int32 {
        try POSIXFile.open(dataPath(id), O_WRONLY | O_CREAT | O_EXCL)
    }
}
