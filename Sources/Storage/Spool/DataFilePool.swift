#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// Message files made ahead of need: created empty in `msg/` a batch at a time, with one sync of
/// the folder for the batch, so that a message written into one needs only its own `fdatasync`
/// before the `250` (its name is already durable). An unused one is an empty file without a
/// trailer, which recovery removes like any uncommitted write.
final class DataFilePool: Sendable {
    struct File: Sendable {
        var id: String
        var fd: Int32
    }

    private struct State {
        var files: [File] = []
        var refilling = false
        var closed = false
    }

    private let layout: SpoolLayout
    private let ids: QueueIDGenerator
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    /// Refill when fewer than this are left; make this many at a time.
    static let lowWater = 16
    static let batch = 64

    init(layout: SpoolLayout, ids: QueueIDGenerator, threadPool: NIOThreadPool, logger: Logger) {
        self.layout = layout
        self.ids = ids
        self.threadPool = threadPool
        self.logger = logger
    }

    /// A ready file, or nil when none is (the caller then creates its own). Never blocks.
    func take() -> File? {
        let (file, refill) = state.withLockedValue { s -> (File?, Bool) in
            guard !s.closed else { return (nil, false) }
            let file = s.files.popLast()
            let refill = s.files.count < Self.lowWater && !s.refilling
            if refill { s.refilling = true }
            return (file, refill)
        }
        if refill {
            threadPool.submit { [self] work in
                guard case .active = work else {
                    // Shutting down: make no more (and never on the caller's thread).
                    state.withLockedValue { $0.refilling = false }
                    return
                }
                self.refill()
            }
        }
        return file
    }

    private func refill() {
        var made: [File] = []
        for _ in 0..<Self.batch {
            let id = ids.next()
            guard let fd = try? POSIXFile.open(layout.dataPath(id), O_WRONLY | O_CREAT | O_EXCL) else { break }
            made.append(File(id: id, fd: fd))
        }
        do {
            try POSIXFile.syncDirectory(layout.dataDirectory)
        } catch {
            logger.warning("cannot sync the spool folder", metadata: ["error": .string("\(error)")])
            discard(made)
            made = []
        }
        let leftover = state.withLockedValue { s -> [File] in
            s.refilling = false
            if s.closed { return made }
            s.files += made
            return []
        }
        discard(leftover)
    }

    /// Closes and removes every file not handed out, and makes no more until `reopen`.
    func close() {
        let files = state.withLockedValue { s -> [File] in
            s.closed = true
            defer { s.files = [] }
            return s.files
        }
        discard(files)
    }

    func reopen() {
        state.withLockedValue { $0.closed = false }
    }

    private func discard(_ files: [File]) {
        for file in files {
            Glibc.close(file.fd)
            POSIXFile.unlink(layout.dataPath(file.id))
        }
    }
}
