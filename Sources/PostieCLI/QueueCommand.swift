import ArgumentParser
import Foundation
import MailCore
import Postie

/// `postie queue …`: look into and act on a running server's queue.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Look into and act on the queue of a running server.",
        subcommands: [List.self, Show.self, Flush.self, Delete.self, Bounce.self, Hold.self, Release.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queued messages: id, age, size, sender, recipients, next attempt, last error.")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() throws {
            let response = try call(ControlRequest(command: .list), options)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(response.entries ?? []), as: UTF8.self))
                return
            }
            Self.show(response)
        }

        /// The queue as a table (also `sendmail -bp`).
        static func show(_ response: ControlResponse) {
            let entries = response.entries ?? []
            let now = Int64(Date().timeIntervalSince1970)
            for e in entries {
                let next = e.nextAttempt.map { $0 > now ? "in \(duration($0 - now))" : "now" } ?? "-"
                let state = e.held == true ? "held" : "next attempt: \(next)"
                print("\(e.id)  age \(duration(now - e.arrival))  \(e.size) octets  from \(e.sender)  \(state)")
                for r in e.recipients {
                    print("    \(r.address) (\(r.status), \(r.attempts) attempt\(r.attempts == 1 ? "" : "s"))\(r.lastError.map { ": " + $0 } ?? "")")
                }
            }
            print(entries.isEmpty ? "The queue is empty." : "\(entries.count) message\(entries.count == 1 ? "" : "s") in the queue.")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a queued message's envelope and headers.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The queue id.") var id: String
        func run() throws { print(try call(ControlRequest(command: .show, id: id), options).text ?? "", terminator: "") }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Try deferred messages now (all, or the one named).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "A queue id (optional).") var id: String?
        func run() throws { print(try call(ControlRequest(command: .flush, id: id), options).text ?? "") }
    }

    struct Delete: QueueIDCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a queued message without telling its sender.")
        static let command = ControlRequest.Command.delete
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The queue id.") var id: String
    }

    struct Bounce: QueueIDCommand {
        static let configuration = CommandConfiguration(abstract: "Return a queued message to its sender with a delivery report.")
        static let command = ControlRequest.Command.bounce
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The queue id.") var id: String
    }

    struct Hold: QueueIDCommand {
        static let configuration = CommandConfiguration(abstract: "Hold a queued message: it is not tried until released.")
        static let command = ControlRequest.Command.hold
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The queue id.") var id: String
    }

    struct Release: QueueIDCommand {
        static let configuration = CommandConfiguration(abstract: "Release a held message and try it now.")
        static let command = ControlRequest.Command.release
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The queue id.") var id: String
    }
}

/// Sends a request to the running server; a refusal becomes an error message and exit code 1.
func call(_ request: ControlRequest, _ options: ConfigOptions, message: [UInt8] = []) throws -> ControlResponse {
    try call(request, options.overrides, message: message)
}

func call(_ request: ControlRequest, _ options: ConfigOverrides, message: [UInt8] = []) throws -> ControlResponse {
    let config: PostieConfiguration
    do {
        config = try options.load()
    } catch let error as ConfigurationError {
        printConfigurationError(error)
        throw ExitCode(78)
    }
    let response: ControlResponse
    do {
        response = try ControlClient.send(request, message: message, socketPath: config.controlSocket)
    } catch {
        printError("postie: \(error)")
        throw ExitCode(75)  // EX_TEMPFAIL
    }
    guard response.ok else {
        printError("postie: \(response.error ?? "refused")")
        throw ExitCode(1)
    }
    return response
}

/// A queue operation on one message: its request, and the server's answer printed.
protocol QueueIDCommand: ParsableCommand {
    static var command: ControlRequest.Command { get }
    var options: ConfigOptions { get }
    var id: String { get }
}

extension QueueIDCommand {
    func run() throws { print(try call(ControlRequest(command: Self.command, id: id), options).text ?? "") }
}

func duration(_ seconds: Int64) -> String {
    let s = max(0, seconds)
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172_800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}

/// `postie trace ID`: what each server said on each delivery attempt of a message.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Show the SMTP dialogue of each delivery attempt of a message (the newest 10).")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "The queue id.") var id: String

    func run() throws {
        let attempts = try call(ControlRequest(command: .trace, id: id), options).attempts ?? []
        if attempts.isEmpty {
            print("\(id): no delivery attempt yet")
            return
        }
        for (n, attempt) in attempts.enumerated() {
            print("Attempt \(n + 1): \(attempt)\n")
        }
    }
}
