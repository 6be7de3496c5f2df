import ArgumentParser
import Foundation
import MailAuth
import NIOPosix
import SMTPCore
import SMTPNIO
import Storage

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
            guard domain.contains("."), AddressGrammar.isDomain(Array(domain.utf8)[...]) else {
                throw ValidationError("--domain \(domain): not a domain name")
            }
            guard DKIMSigner.isSelector(selector) else {
                throw ValidationError("--selector \(selector): use letters, digits and hyphens (dots between parts)")
            }
        }

        func run() throws {
            let domain = self.domain.lowercased()
            let path = try output ?? "\(options.load().dataDirectory)/dkim/\(domain)/\(selector).pem"
            // Refused before an RSA key takes its seconds to make; the O_EXCL below still decides.
            guard !POSIXFile.exists(path) else { throw ValidationError("cannot create \(path): it exists") }
            let key = try DKIMKey.generate(algorithm == "rsa" ? .rsaSHA256 : .ed25519SHA256, bits: bits)
            do {
                try POSIXFile.makeDirectories(POSIXFile.parent(path))
                // Mode 0600, never over another key.
                try POSIXFile.createNew(path, contents: Array((key.pemRepresentation + "\n").utf8))
            } catch {
                throw ValidationError("cannot create \(path): \(error)")
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
