import ArgumentParser
import Foundation
import MailCore
import Postie

#if canImport(Glibc)
import Glibc
#endif

/// `postie sendmail [-t] [-i] [-f sender] [recipient…]`, also run when Postie is installed as
/// `sendmail`: reads a message on standard input and queues it through the running server, as
/// applications and cron expect.
struct SendmailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sendmail",
        abstract: "Queue a message read on standard input (sendmail-compatible).",
        discussion: """
            Options: -t (recipients from To, Cc and Bcc; Bcc is removed), -i or -oi (a line with a \
            single dot does not end the message), -f SENDER or -r SENDER (envelope sender), -F NAME \
            (full name for a From line that is added), --config FILE, --data-dir DIR. Other sendmail \
            options (-o…, -B…, -odi, -oem, -v …) are accepted and ignored. Modes: -bm (the default: \
            queue a message), -bp (list the queue, as mailq), -q (try deferred mail now), -bs (an SMTP \
            dialogue on standard input and output), -bi (newaliases: nothing to rebuild). Nothing is \
            printed on success.
            """)

    @Argument(parsing: .captureForPassthrough, help: "Options and recipients, as for sendmail.")
    var arguments: [String] = []

    /// What sendmail is asked to do (`-b…`, `-q`).
    enum Mode: Equatable {
        case send, listQueue, flushQueue, smtp, rebuildAliases, help
    }

    struct Invocation {
        var mode = Mode.send
        var readRecipientsFromHeaders = false
        var ignoreDots = false
        var sender: String?
        var fullName: String?
        var recipients: [String] = []
        var options = ConfigOverrides()
    }

    static func parse(_ arguments: [String]) throws -> Invocation {
        var inv = Invocation()
        var i = 0
        func value(_ flag: String, _ arg: String) throws -> String {
            if arg.count > 2 { return String(arg.dropFirst(2)) }
            i += 1
            guard i < arguments.count else { throw ValidationError("\(flag) needs a value") }
            return arguments[i]
        }
        var onlyRecipients = false
        while i < arguments.count {
            let arg = arguments[i]
            if onlyRecipients || !arg.hasPrefix("-") {
                inv.recipients += arg.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } else if arg == "--" {
                onlyRecipients = true
            } else if arg == "--config" {
                inv.options.config = try value("--config", "--")
            } else if arg == "--data-dir" {
                inv.options.dataDir = try value("--data-dir", "--")
            } else if arg == "--help" || arg == "-help" {
                inv.mode = .help
            } else if arg == "-bp" {
                inv.mode = .listQueue
            } else if arg == "-bs" {
                inv.mode = .smtp
            } else if arg == "-bi" {
                inv.mode = .rebuildAliases
            } else if arg.hasPrefix("-q") {
                // -q, -q30m (a run interval for a daemon, which the server keeps itself), -qI…
                inv.mode = .flushQueue
            } else if arg == "-t" {
                inv.readRecipientsFromHeaders = true
            } else if arg == "-i" || arg == "-oi" {
                inv.ignoreDots = true
            } else if arg.hasPrefix("-f") || arg.hasPrefix("-r") {
                inv.sender = try value(String(arg.prefix(2)), arg)
            } else if arg.hasPrefix("-F") {
                inv.fullName = try value("-F", arg)
            } else if ["-bm", "-odi", "-odb", "-oem", "-em", "-v"].contains(arg) || arg.hasPrefix("-o") || arg.hasPrefix("-B") || arg.hasPrefix("-N")
                || arg.hasPrefix("-R") || arg.hasPrefix("-V")
            {
                if ["-N", "-R", "-V", "-B"].contains(arg) { i += 1 }  // their value follows
            } else {
                throw ValidationError("unknown option \(arg)")
            }
            i += 1
        }
        return inv
    }

    /// The message as read, with CRLF line endings, ended by EOF or (without -i) a lone dot.
    static func readMessage(_ input: [UInt8], ignoreDots: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 40)
        var lineStart = 0
        var i = 0
        while i <= input.count {
            if i == input.count || input[i] == 10 {
                var end = i
                if end > lineStart && input[end - 1] == 13 { end -= 1 }
                let line = input[lineStart..<end]
                if !ignoreDots && line.count == 1 && line.first == UInt8(ascii: ".") { break }
                if i < input.count || !line.isEmpty {
                    out += line
                    out += [13, 10]
                }
                lineStart = i + 1
            }
            i += 1
        }
        return out
    }

    func run() throws {
        let inv = try Self.parse(arguments)
        switch inv.mode {
        case .send: break
        case .help:
            print(Self.helpMessage())
            return
        case .listQueue:
            QueueCommand.List.show(try call(ControlRequest(command: .list), inv.options))
            return
        case .flushQueue:
            _ = try call(ControlRequest(command: .flush), inv.options)
            return
        case .rebuildAliases:
            try NewAliases().run()
            return
        case .smtp:
            throw ExitCode(try SendmailSMTP.run(options: inv.options))
        }
        let config: PostieConfiguration
        do {
            config = try inv.options.load()
        } catch let error as ConfigurationError {
            printConfigurationError(error)
            throw ExitCode(78)
        }
        let input = FileHandle.standardInput.readDataToEndOfFile()
        var message = Self.readMessage(Array(input), ignoreDots: inv.ignoreDots)
        let headers = MessageHeaders(message)
        var recipients = inv.recipients
        if inv.readRecipientsFromHeaders {
            for name in ["To", "Cc", "Bcc"] {
                for v in headers.values(name) { recipients += MessageHeaders.addresses(in: v) }
            }
            message = Self.removingBcc(message, headerLength: headers.length)
        }
        guard !recipients.isEmpty else {
            printError("postie sendmail: no recipients (name them, or use -t)")
            throw ExitCode(64)  // EX_USAGE
        }
        let user = String(cString: getpwuid(geteuid())?.pointee.pw_name ?? strdup("nobody"))
        let domain = config.directory.primaryDomain
        var sender = inv.sender ?? "\(user)@\(domain)"
        if !sender.isEmpty && sender != "<>" && !sender.contains("@") { sender += "@\(domain)" }
        if sender == "<>" { sender = "" }
        // Fields a message must have (RFC 5322 §3.6), added when the application left them out.
        var added = ""
        let now = Date()
        if !headers.has("From") {
            added += "From: \(inv.fullName.map { "\(HeaderText.singleLine($0)) " } ?? "")<\(sender.isEmpty ? "MAILER-DAEMON@\(domain)" : sender)>\r\n"
        }
        if !headers.has("Date") { added += "Date: \(MessageDate.rfc5322(unixTime: Int64(now.timeIntervalSince1970)))\r\n" }
        if !headers.has("Message-ID") { added += "Message-ID: <\(UUID().uuidString.lowercased())@\(config.hostname)>\r\n" }
        message = Array(added.utf8) + message
        let response = try call(
            ControlRequest(command: .submit, sender: sender, recipients: recipients, length: message.count, submitter: "\(getuid())"),
            inv.options, message: message)
        // Success is silent: cron mails whatever a job prints.
        _ = response
    }

    static func removingBcc(_ message: [UInt8], headerLength: Int) -> [UInt8] {
        let head = String(decoding: message[..<headerLength], as: UTF8.self)
        var kept: [Substring] = []
        var dropping = false
        for line in head.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.first == " " || line.first == "\t" {
                if !dropping { kept.append(line) }
                continue
            }
            dropping = line.lowercased().hasPrefix("bcc:")
            if !dropping { kept.append(line) }
        }
        return Array(kept.joined(separator: "\r\n").utf8) + message[headerLength...]
    }
}
