import ArgumentParser
import Foundation
import MailAuth
import NIOPosix
import SMTPNIO

#if canImport(Glibc)
import Glibc
#endif

/// `postie dkim …`: DKIM keys for the domains Postie signs for (docs/authentication.md).
struct DKIMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim", abstract: "Manage DKIM signing keys.", subcommands: [Keygen.self, Check.self])

    /// Makes a key and prints the DNS record that publishes it.
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Make a DKIM key (PEM, mode 0600) and print the TXT record to publish.",
            discussion: """
                The key goes to <data_dir>/dkim/<domain>/<selector>.pem unless --output names a file; \
                an existing file is never replaced. The record is printed in zone-file form, cut into \
                strings of at most 255 octets, to publish at <selector>._domainkey.<domain>.
                """)

        @OptionGroup var options: ConfigOptions

        @Option(help: "The domain the key signs for (d=).")
        var domain: String

        @Option(help: "The selector (s=): a name for this key, e.g. the year, so that a new key can be published beside it.")
        var selector: String

        @Option(help: "rsa (every verifier knows it) or ed25519 (RFC 8463; sign with both for the best of each).")
        var algorithm: String = "rsa"

        @Option(help: "RSA key size: 2048, 3072 or 4096.")
        var bits = 2048

        @Option(help: "Write the key here instead.")
        var output: String?

        func validate() throws {
            guard ["rsa", "ed25519"].contains(algorithm) else { throw ValidationError("--algorithm must be rsa or ed25519") }
            guard Self.isName(domain) else { throw ValidationError("--domain \(domain): not a domain name") }
            guard Self.isLabel(selector) else {
                throw ValidationError("--selector \(selector): use letters, digits and hyphens (dots between parts)")
            }
        }

        static func isLabel(_ text: String) -> Bool {
            !text.isEmpty
                && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
                    !part.isEmpty && part.count <= 63 && part.utf8.allSatisfy { $0 == UInt8(ascii: "-") || ($0 < 128 && isalnum(Int32($0)) != 0) }
                }
        }

        static func isName(_ text: String) -> Bool { text.contains(".") && isLabel(text) }

        func run() throws {
            let domain = self.domain.lowercased()
            let key = try DKIMKey.generate(algorithm == "rsa" ? .rsaSHA256 : .ed25519SHA256, bits: bits)
            let path = try output ?? "\(options.load().dataDirectory)/dkim/\(domain)/\(selector).pem"
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            // Made with O_EXCL and mode 0600: never over another key, never readable by others.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            let pem = Array((key.pemRepresentation + "\n").utf8)
            let written = pem.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd)
            close(fd)
            guard written == pem.count, synced == 0 else {
                unlink(path)
                throw ValidationError("cannot write \(path)")
            }
            FileHandle.standardError.write(Data("wrote the \(key.algorithm.rawValue) key to \(path); publish this record:\n".utf8))
            let strings = key.recordStrings.map { "\"\($0)\"" }.joined(separator: "\n    ")
            print("\(selector)._domainkey.\(domain). IN TXT (\n    \(strings) )")
        }
    }
}

extension DKIMCommand {
    /// Looks up each key's record and says whether it is published and matches.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check that the DNS publishes the configured DKIM keys of a domain.",
            discussion: """
                For each selector under [dkim."<domain>"], looks up <selector>._domainkey.<domain> (TXT, \
                through relay.dns_server when set) and compares it with the key. Exits 0 when every \
                key is published as it is.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The domain, as under [dkim.\"<domain>\"].")
        var domain: String

        func run() async throws {
            let config = try options.load()
            let domain = self.domain.lowercased()
            guard let keys = config.dkim.domains[domain], !keys.isEmpty else {
                throw ValidationError("no [dkim.\"\(domain)\"] keys in the configuration")
            }
            let threadPool = NIOThreadPool(numberOfThreads: 1)
            threadPool.start()
            let resolver = SystemDNSResolver(configuration: config.dnsConfiguration, threadPool: threadPool)
            var allGood = true
            for key in keys {
                let name = "\(key.selector)._domainkey.\(domain)"
                let verdict: String
                do {
                    let records = try await resolver.txt(name)
                    if records.isEmpty {
                        verdict = "no TXT record; publish: \(key.key.record)"
                        allGood = false
                    } else {
                        let checks = records.map { key.key.check(record: $0) }
                        if checks.contains(.matches) {
                            verdict = DKIMKey.RecordCheck.matches.description
                        } else {
                            verdict = checks.map(\.description).joined(separator: "; ") + "; publish: \(key.key.record)"
                            allGood = false
                        }
                    }
                } catch {
                    verdict = error.description
                    allGood = false
                }
                print("\(name) (\(key.key.algorithm.rawValue)): \(verdict)")
            }
            try? await threadPool.shutdownGracefully()
            if !allGood { throw ExitCode(1) }
        }
    }
}
