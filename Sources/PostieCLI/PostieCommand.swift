import ArgumentParser
import Foundation
import Logging
import Postie
import ServiceLifecycle

/// `postie`: the mail server and its tools.
@main
struct PostieCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postie",
        abstract: "Postie, a mail transfer agent: receives mail over SMTP and keeps it in Maildirs.",
        subcommands: [Serve.self, CheckConfig.self, QueueCommand.self, SendmailCommand.self, PasswdCommand.self],
        defaultSubcommand: Serve.self)

    /// Installed (or linked) as `sendmail`, Postie behaves as sendmail.
    static func main() async {
        if URL(fileURLWithPath: CommandLine.arguments.first ?? "").lastPathComponent == "sendmail" {
            SendmailCommand.main(Array(CommandLine.arguments.dropFirst()))
            return
        }
        await Self.main(nil)
    }
}

/// Options shared by commands that read a configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The TOML configuration file (default: the embedded defaults).")
    var config: String?

    @Option(name: .long, help: "Listen on this address (host:port); repeat for several. Overrides smtp.listen.")
    var listen: [String] = []

    @Option(name: .long, help: "Our host name. Overrides hostname.")
    var hostname: String?

    @Option(name: .customLong("data-dir"), help: "Where the spool and mailboxes live. Overrides data_dir.")
    var dataDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    var overrides: ConfigOverrides {
        ConfigOverrides(config: config, listen: listen, hostname: hostname, dataDir: dataDir, logLevel: logLevel)
    }

    func load() throws -> PostieConfiguration { try overrides.load() }
}

/// The configuration file and the command-line overrides, as plain values (sendmail parses its
/// own arguments and builds one directly).
struct ConfigOverrides {
    var config: String?
    var listen: [String] = []
    var hostname: String?
    var dataDir: String?
    var logLevel: String?

    func load() throws -> PostieConfiguration {
        var config = try config.map { try ConfigurationLoader.load(file: $0) } ?? .defaults()
        if !listen.isEmpty {
            config.listen = try listen.map { text in
                guard let a = PostieConfiguration.ListenAddress(text) else {
                    throw ValidationError("--listen \(text): not an address such as 127.0.0.1:2525")
                }
                return a
            }
        }
        if let hostname { config.hostname = hostname }
        if let dataDir { config.dataDirectory = dataDir }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level \(logLevel): unknown level") }
            config.logLevel = level
        }
        return config
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the SMTP server (the default command).")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config: PostieConfiguration
        do {
            config = try options.load()
        } catch let error as ConfigurationError {
            printError("postie: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        let level = config.logLevel
        LoggingSystem.bootstrap { label in
            var handler = PostieLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        defer { LogWriter.standardError.flush() }
        let logger = Logger(label: "postie")
        let server = PostieServer(configuration: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a configuration file and print the effective configuration.")

    @Argument(help: "The TOML configuration file.")
    var file: String

    func run() async throws {
        do {
            let config = try ConfigurationLoader.load(file: file)
            print(ConfigurationPrinter.render(config))
        } catch let error as ConfigurationError {
            printError("postie: \(error)")
            throw ExitCode(78)
        }
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleStderr.write(string)
    }
}
