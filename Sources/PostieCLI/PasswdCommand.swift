import ArgumentParser
import Foundation
import Postie

#if canImport(Glibc)
import Glibc
#endif

/// `postie passwd`: reads a password and prints its hash for `[auth.users."name"] password`.
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Hash a password for the configuration's [auth.users] table.",
        discussion: """
            On a terminal the password is asked for twice without echo; otherwise the first line of \
            standard input is the password. The hash (scrypt, with a random salt) goes to standard output.
            """)

    @Option(name: .customLong("cost"), help: "scrypt cost as log2 of N (memory: 2^cost KiB). Lower only for tests.")
    var cost = PasswordHash.defaultLogRounds

    func validate() throws {
        guard (1...20).contains(cost) else { throw ValidationError("--cost must be between 1 and 20") }
    }

    func run() throws {
        let password: String
        if isatty(STDIN_FILENO) == 1 {
            let first = try Self.prompt("Password: ")
            let second = try Self.prompt("Again: ")
            guard first == second else { throw ValidationError("the two passwords differ") }
            password = first
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        guard !password.isEmpty else { throw ValidationError("the password is empty") }
        print(try PasswordHash.make(password: Array(password.utf8), logRounds: cost))
    }

    /// Reads a line from the terminal with echo off.
    private static func prompt(_ text: String) throws -> String {
        FileHandle.standardError.write(Data(text.utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw ValidationError("no password given") }
        return line
    }
}
