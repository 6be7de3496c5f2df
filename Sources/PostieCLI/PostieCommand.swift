import ArgumentParser
import Foundation
import Logging
import Postie
import ServiceLifecycle
import SMTPNIO
import Storage

/// `postie`: the mail server and its tools.
@main
struct PostieCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postie",
        abstract: "Postie, a mail transfer agent: receives mail over SMTP and keeps it in Maildirs.",
        version: PostieVersion.current,
        subcommands: [
            Serve.self, Reload.self, CheckConfig.self, QueueCommand.self, SendmailCommand.self, PasswdCommand.self, DKIMCommand.self,
            HealthCommand.self, TraceCommand.self,
        ],
        defaultSubcommand: Serve.self)

    /// Installed (or linked) under the names programs call, Postie behaves as those commands do:
    /// `sendmail`, `mailq` (the queue) and `newaliases` (nothing to do). Never a server: a
    /// `mailq` that started one would take the data directory from the running server.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch URL(fileURLWithPath: CommandLine.arguments.first ?? "").lastPathComponent {
        case "sendmail":
            SendmailCommand.main(arguments)
        case "mailq":
            QueueCommand.List.main(arguments)
        case "newaliases":
            NewAliases.main(arguments)
        default:
            await Self.main(nil)
        }
    }
}

/// Options shared by commands that read a configuration.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "The TOML configuration file (default: $POSTIE_CONFIG, else /etc/postie/postie.toml when it exists, else the embedded defaults).")
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
struct ConfigOverrides: Sendable {
    var config: String?
    var listen: [String] = []
    var hostname: String?
    var dataDir: String?
    var logLevel: String?

    /// The configuration file: named, else `$POSTIE_CONFIG`, else the system's when it exists.
    var configFile: String? {
        if let config { return config }
        if let named = ProcessInfo.processInfo.environment["POSTIE_CONFIG"], !named.isEmpty { return named }
        return FileManager.default.fileExists(atPath: Self.systemConfig) ? Self.systemConfig : nil
    }

    static let systemConfig = "/etc/postie/postie.toml"

    func load() throws -> PostieConfiguration {
        var config = try configFile.map { try ConfigurationLoader.load(file: $0) } ?? .defaults()
        if !listen.isEmpty {
            config.smtp.listen = try listen.map { text in
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
            printConfigurationError(error)
            throw ExitCode(78)  // EX_CONFIG
        }
        let level = config.logLevel
        let format = config.logFormat
        LoggingSystem.bootstrap { label in
            var handler = PostieLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        defer { LogWriter.standardError.flush() }
        let logger = Logger(label: "postie")
        // SIGHUP and `postie reload` read the same file with the same overrides again.
        let overrides = options.overrides
        let activation: SocketActivation?
        do {
            activation = try SocketActivation.takeFromEnvironment()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(78)
        }
        let server = PostieServer(
            configuration: config, logger: logger, reloadFrom: { try overrides.load() }, activation: activation)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw StartFailure.exit(for: error, logger: logger)
        }
    }
}

/// `postie reload`: the running server reads its configuration file again (as on SIGHUP). The
/// exit status says whether it took it: 0 applied, 1 refused (the error is printed, the running
/// configuration stays), 75 no server reached.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the running server read its configuration again.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let report = try call(ControlRequest(command: .reload), options).reload
        guard let report else { return }
        print(report.changed.isEmpty ? "reloaded: nothing changed" : "reloaded; changed: \(report.changed.joined(separator: ", "))")
        if !report.needRestart.isEmpty {
            print("these take effect only after a restart: \(report.needRestart.joined(separator: ", "))")
        }
    }
}

/// Why a server could not start, said once in plain words, with an exit status a service manager
/// can act on (`RestartPreventExitStatus=78` for configuration errors).
enum StartFailure {
    static func exit(for error: Error, logger: Logger) -> ExitCode {
        let cause = error
        switch cause {
        case let held as DataDirectoryLock.Held:
            logger.critical("cannot start: \(held)")
            return ExitCode(75)  // EX_TEMPFAIL: it may start once the other one has stopped
        case let bind as SMTPServer.BindError:
            logger.critical("cannot start: \(bind)")
            return ExitCode(71)  // EX_OSERR
        case let config as ConfigurationError:
            logger.critical("cannot start: \(config)")
            return ExitCode(78)  // EX_CONFIG
        default:
            logger.critical("cannot start: \(cause)")
            return ExitCode(1)
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check a configuration file and print the effective configuration.")

    @Argument(help: "The TOML configuration file (or --config FILE; default as for serve).")
    var file: String?

    @Option(name: .long, help: "The TOML configuration file.")
    var config: String?

    func run() async throws {
        guard let file = file ?? ConfigOverrides(config: config).configFile else {
            printError("postie: no configuration file: name one (postie check-config FILE), or set POSTIE_CONFIG")
            throw ExitCode(64)
        }
        do {
            let config = try ConfigurationLoader.load(file: file)
            print(ConfigurationPrinter.render(config))
        } catch let error as ConfigurationError {
            printConfigurationError(error)
            throw ExitCode(78)
        }
    }
}

/// Every problem of a configuration file, one line each.
func printConfigurationError(_ error: ConfigurationError) {
    for problem in error.all { printError("postie: \(problem)") }
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

/// `newaliases`, as programs and package scripts call it: Postie's aliases live in its
/// configuration file and take effect on reload, so there is no database to rebuild.
struct NewAliases: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newaliases", abstract: "Nothing to rebuild: aliases live in the configuration file.")

    @Argument(parsing: .captureForPassthrough) var ignored: [String] = []

    func run() throws {
        printError("postie: aliases are read from the configuration file ([domains.\"…\"] aliases); run `postie reload` after changing it")
    }
}
