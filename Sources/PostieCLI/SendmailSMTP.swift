import Foundation
import NIOCore
import Postie
import SMTPCore

#if canImport(Glibc)
import Glibc
#endif

/// `sendmail -bs`: an SMTP dialogue on standard input and output, for programs that speak SMTP to
/// a pipe (as Postfix's and Exim's `-bs` do). The dialogue is SMTPCore's own `ServerSession`;
/// each recipient is checked and each message queued by the running server through the control
/// socket, as for any `postie sendmail` (a local user's submission: any sender, remote recipients
/// allowed).
enum SendmailSMTP {
    /// Runs the dialogue to its end; returns the exit status (0, or 75 when the server could not
    /// be reached at all).
    static func run(options: ConfigOverrides) throws -> Int32 {
        let config = try options.load()
        var session = ServerSession(
            configuration: ServerSessionConfiguration(hostname: config.hostname, extensions: AdvertisedExtensions(dsn: false)))
        let submitter = "\(getuid())"
        var message: [UInt8] = []
        var pending = session.start()
        var reachedServer = true
        var input = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            while !pending.isEmpty {
                let action = pending.removeFirst()
                switch action {
                case .send(let reply):
                    write(reply.wireText)
                case .close:
                    return reachedServer ? 0 : 75
                case .checkRecipient(let recipient, _):
                    let reply: Reply
                    do {
                        let response = try ControlClient.send(
                            ControlRequest(command: .verify, recipients: [recipient.path.address]), message: [],
                            socketPath: config.controlSocket)
                        reply =
                            response.ok
                            ? Reply.Transaction.recipientOk
                            : Reply.Sendmail.recipientRefused("\(recipient.path)", response.error)
                    } catch {
                        reachedServer = false
                        reply = Reply.Sendmail.serverNotRunning
                    }
                    pending += session.recipientChecked(reply)
                case .beginMessage:
                    message = []
                case .messageData(let data):
                    message += data.readableBytesView
                case .commitMessage:
                    pending += session.messageCommitted(submit(message, session.transaction, config: config, submitter: submitter))
                    message = []
                case .abortMessage:
                    message = []
                case .startTLS, .authenticate:
                    // Neither is offered on a pipe.
                    break
                }
            }
            let n = input.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            pending += n > 0 ? session.receive(ByteBuffer(bytes: input[..<n])) : session.inputEnded()
        }
    }

    private static func submit(_ message: [UInt8], _ transaction: SessionTransaction?, config: PostieConfiguration, submitter: String)
        -> Reply
    {
        guard let transaction else { return Reply.Transaction.noMessageInProgress }
        let sender: String
        switch transaction.reversePath {
        case .null: sender = ""
        case .mailbox(let m): sender = m.description
        }
        let request = ControlRequest(
            command: .submit, sender: sender, recipients: transaction.recipients.map(\.path.address),
            length: message.count, submitter: submitter)
        do {
            let response = try ControlClient.send(request, message: message, socketPath: config.controlSocket)
            guard response.ok, let id = response.id else {
                return Reply.Sendmail.refused(response.error)
            }
            return Reply.Transaction.queued(id)
        } catch {
            return Reply.Sendmail.serverNotRunning
        }
    }

    private static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

extension Reply {
    /// What `postie sendmail -bs` answers for the server behind the control socket.
    enum Sendmail {
        static let serverNotRunning = Reply(451, .init(4, 3, 0), "Error: the mail server is not running, try again later")
        static func recipientRefused(_ path: String, _ why: String?) -> Reply {
            Reply(550, .init(5, 1, 1), "\(path): \(why ?? "refused")")
        }
        static func refused(_ why: String?) -> Reply { Reply(554, .init(5, 0, 0), "Error: \(why ?? "refused")") }
    }
}
