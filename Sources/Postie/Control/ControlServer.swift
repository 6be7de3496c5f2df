#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import SMTPCore
import Storage

/// Listens on the control socket (`<data_dir>/control.sock`, mode 0600) for `postie queue …` and
/// `postie sendmail`.
final class ControlServer: Sendable {
    let path: String
    private let channel: Channel

    /// `idleTimeout` and `maxBuffered` are those of an SMTP connection (`SMTPServerConfiguration`):
    /// a submission is message data like any other.
    init(
        path: String, service: ControlService, spool: Spool, idleTimeout: TimeAmount, maxBuffered: Int, group: EventLoopGroup
    ) async throws {
        self.path = path
        unlink(path)  // a socket left by a server that did not stop cleanly
        // No umask change here: it is process-wide and would reach files other threads create.
        // The data directory is 0700, so nobody else can reach the socket before the chmod.
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ControlHandler(service: service, spool: spool, idleTimeout: idleTimeout, maxBuffered: maxBuffered))
                }
            }
            .bind(unixDomainSocketPath: path).get()
        chmod(path, 0o600)
    }

    func close() async {
        try? await channel.close()
        unlink(path)
    }
}

/// Reads one request, answers, closes. A submission's octets stream into the spool as they
/// arrive, with reads held while the disk is behind, so a large message never sits whole in
/// memory; a connection that goes quiet for `idleTimeout` is closed (and its message dropped).
final class ControlHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: ControlService
    private let spool: Spool
    private let idleTimeout: TimeAmount
    private var buffer = ByteBuffer()
    private var answered = false
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    /// The submission under way: its writer and what is left to read.
    private var submission: (prepared: ControlService.Submission, writer: SpoolWriter, remaining: Int, eightBit: Bool, signing: MessageSigning?)?
    private var readPending = false

    /// Written octets a submission may have waiting for the disk before reads stop.
    private let maxBuffered: Int

    init(service: ControlService, spool: Spool, idleTimeout: TimeAmount, maxBuffered: Int) {
        self.maxBuffered = maxBuffered
        self.service = service
        self.spool = spool
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armTimer(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if let submission, submission.remaining > 0 { submission.writer.abort() }
        submission = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        armTimer(context)
        var bytes = unwrapInboundIn(data)
        if submission != nil {
            take(&bytes, context)
            return
        }
        buffer.writeBuffer(&bytes)
        guard let lf = buffer.readableBytesView.firstIndex(of: 10) else {
            if buffer.readableBytes > 64 * 1024 { respond(context, .failure("request line too long")) }
            return
        }
        let line = buffer.readBytes(length: lf - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(line)) else {
            respond(context, .failure("malformed request"))
            return
        }
        if request.command == .submit {
            switch service.prepareSubmission(request) {
            case .failure(let refusal):
                respond(context, .failure(refusal.reason))
            case .success(let prepared):
                let writer = spool.makeWriter(eventLoop: context.eventLoop)
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                writer.onProgress = { _ in bound.value.resumeReading() }
                writer.write(ByteBuffer(string: prepared.received))
                // A local user's mail: signed when its From: domain has keys.
                let signing = MessageSigning(service.configuration.dkim, writer: writer)
                submission = (prepared, writer, request.length ?? 0, false, signing)
                var rest = buffer
                buffer = ByteBuffer()
                take(&rest, context)
            }
            return
        }
        answered = true
        timer?.cancel()
        let service = self.service
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: ControlResponse.self)
        promise.completeWithTask { await service.handle(request) }
        promise.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            handler.respond(context, response)
        }
    }

    /// Hands a submission's octets to its writer; commits once all have come.
    private func take(_ bytes: inout ByteBuffer, _ context: ChannelHandlerContext) {
        guard var current = submission else { return }
        let n = min(bytes.readableBytes, current.remaining)
        if n > 0, let slice = bytes.readSlice(length: n) {
            if !current.eightBit { current.eightBit = slice.withUnsafeReadableBytes(OctetScan.containsEightBit) }
            current.writer.write(slice)
            current.signing?.update(slice)
            current.remaining -= n
        }
        submission = current
        guard current.remaining == 0 else { return }
        answered = true
        timer?.cancel()
        let (prepared, eightBit, service) = (current.prepared, current.eightBit, self.service)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let (prefix, signed) = current.signing?.finish(current.writer, logger: service.logger) ?? ([], nil)
        current.writer.commit(prefix: prefix) { id, size in prepared.envelope(id: id, size: size, eightBit: eightBit) }
            .whenComplete { result in
                let (handler, context) = bound.value
                handler.submission = nil
                switch result {
                case .success(let committed): handler.respond(context, service.submitted(prepared, committed, dkim: signed?.value))
                case .failure(let error): handler.respond(context, .failure("cannot store the message: \(error)"))
                }
            }
    }

    func read(context: ChannelHandlerContext) {
        if let submission, submission.writer.outstandingBytes > maxBuffered {
            readPending = true
        } else {
            context.read()
        }
    }

    private func resumeReading() {
        guard readPending, let context, (submission?.writer.outstandingBytes ?? 0) <= maxBuffered else { return }
        readPending = false
        context.read()
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (handler, context) = bound.value
            guard !handler.answered else { return }
            // Not while the disk is what we wait for.
            if let submission = handler.submission, submission.writer.outstandingBytes > 0 {
                handler.armTimer(context)
                return
            }
            handler.respond(context, .failure("timed out"))
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ response: ControlResponse) {
        answered = true
        timer?.cancel()
        if let submission, submission.remaining > 0 {
            submission.writer.abort()
            self.submission = nil
        }
        var out = context.channel.allocator.buffer(capacity: 256)
        out.writeBytes((try? JSONEncoder().encode(response)) ?? Data("{\"ok\":false}".utf8))
        out.writeStaticString("\n")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }
}
