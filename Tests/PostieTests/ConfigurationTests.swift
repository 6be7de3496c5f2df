import Foundation
import MailCore
import TestSupport
@testable import Postie
import Testing

@Suite struct ConfigurationTests {
    @Test func embeddedDefaults() {
        let c = PostieConfiguration.defaults()
        #expect(c.smtp.listen == [.init(host: "127.0.0.1", port: 2525)])
        #expect(c.dataDirectory == "./postie-data")
        #expect(c.effectiveMailRoot == "./postie-data/mail")
        #expect(c.domains.keys.sorted() == ["localhost"])
        #expect(c.domains["localhost"]?.users.contains("postmaster") == true)
        #expect(c.relay.trustedNetworks.isEmpty)
        #expect(c.smtp.limits.maxRecipients == 100)
        #expect(c.smtp.limits.maxErrors == 10)
        #expect(c.smtp.maxReceivedHeaders == 100)
    }

    static let example = """
        hostname = "mx.example.com"
        data_dir = "/var/lib/postie"
        log_level = "debug"

        [smtp]
        listen = ["0.0.0.0:25", "[::]:25"]
        max_message_size = 10485760
        max_recipients = 50
        command_timeout = 120

        [recipients]
        delimiter = "-"

        [relay]
        trusted_networks = ["192.0.2.0/24", "2001:db8::/32"]

        [domains."example.com"]
        users = ["alice", "bob"]
        catch_all = "alice"

        [domains."example.com".aliases]
        info = ["alice", "bob"]
        abuse = "alice"
        partner = "someone@elsewhere.example"

        [domains."example.org"]
        users = ["carol"]
        """

    @Test func fullExample() throws {
        let c = try ConfigurationLoader.load(text: Self.example, file: "postie.toml")
        #expect(c.hostname == "mx.example.com")
        #expect(c.dataDirectory == "/var/lib/postie")
        #expect(c.smtp.listen == [.init(host: "0.0.0.0", port: 25), .init(host: "::", port: 25)])
        #expect(c.smtp.limits.maxMessageSize == 10_485_760)
        #expect(c.smtp.limits.maxRecipients == 50)
        #expect(c.smtp.commandTimeout == 120)
        #expect(c.recipients.delimiter == "-")
        #expect(c.relay.trustedNetworks.count == 2)
        #expect(c.domains["example.com"]?.users == ["alice", "bob"])
        #expect(c.domains["example.com"]?.aliases["abuse"] == ["alice"])
        #expect(c.domains["example.com"]?.catchAll == "alice")
        #expect(c.domains.keys.sorted() == ["example.com", "example.org"])
        // What check-config prints loads back to the same configuration.
        let again = try ConfigurationLoader.load(text: ConfigurationPrinter.render(c), file: "printed")
        #expect(ConfigurationPrinter.render(again) == ConfigurationPrinter.render(c))
    }

    @Test(arguments: [
        ("hostname = \"x\"\nport = 25\n", 2, "port", "unknown key"),
        ("[smtp]\nmax_errors = \"ten\"\n", 2, "smtp.max_errors", "must be a whole number"),
        ("[smtp]\n\nmax_recipients = 0\n", 3, "smtp.max_recipients", "must be between 1 and"),
        ("[smtp]\nlisten = [\"localhost\"]\n", 2, "smtp.listen", "is not an address"),
        ("[relay]\ntrusted_networks = [\"10.0.0.0/99\"]\n", 2, "relay.trusted_networks", "is not a network"),
        ("[domains.\"x.org\"]\nusers = [\"../etc\"]\n", 2, "domains.x.org.users", "cannot be a mailbox name"),
        ("[domains.\"x.org\"]\nusers = [\"a\"]\n[domains.\"x.org\".aliases]\nb = \"nobody\"\n", 4, "domains.x.org.aliases.b", "not a local user"),
        ("[domains.\"x.org\"]\nusers = [\"a\"]\nsecret = 1\n", 3, "domains.x.org.secret", "unknown key"),
        ("log_level = \"loud\"\n", 1, "log_level", "must be one of"),
        ("hostname = \"not a host\"\n", 1, "hostname", "must be a domain name"),
        ("[auth.users.\"a@x.org\"]\npassword = \"secret\"\n", 2, "auth.users.a@x.org.password", "not a password hash"),
        ("[auth.users.\"a@x.org\"]\nsend_as = [\"@x.org\"]\n", 1, "auth.users.a@x.org.password", "missing"),
        ("[auth]\nsenders = \"some\"\n", 2, "auth.senders", "must be \"own\" or \"any\""),
        ("[auth]\nfailure_delay = \"soon\"\n", 2, "auth.failure_delay", "must be a number of seconds"),
        ("[submission]\nlisten = [\"587\"]\n", 2, "submission.listen", "is not an address"),
        ("[admin]\nlisten = [\"0.0.0.0:9025\"]\n", 2, "admin.listen", "needs token_file"),
        ("[verify]\nquarantine = \"bin\"\n", 2, "verify.quarantine", "must be"),
        (
            "[auth.users.\"a@x.org\"]\npassword = \"\(ConfigurationTests.hash)\"\nsend_as = [\"not an address\"]\n", 3,
            "auth.users.a@x.org.send_as", "neither an address nor @domain"
        ),
    ])
    func errorsNameFileLineAndKey(text: String, line: Int, key: String, message: String) {
        do {
            _ = try ConfigurationLoader.load(text: text, file: "postie.toml")
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(error.file == "postie.toml")
            #expect(error.line == line)
            #expect(error.key == key)
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("postie.toml:\(line): \(key): "))
        } catch {
            Issue.record("\(error)")
        }
    }

    static let hash = try! PasswordHash.make(password: Array("pw".utf8), logRounds: 4).description

    @Test func authAndSubmission() throws {
        let text = """
            [submission]
            listen = ["0.0.0.0:587"]
            tls_listen = ["0.0.0.0:465"]

            [auth]
            senders = "any"
            max_failures = 7
            failure_window = 600
            failure_delay = 0.5

            [auth.users."Alice@Example.com"]
            password = "\(Self.hash)"
            send_as = ["info@example.com", "@example.org"]
            """
        let c = try ConfigurationLoader.load(text: text, file: "auth.toml")
        #expect(c.submission.listen == [.init(host: "0.0.0.0", port: 587)])
        #expect(c.submission.tlsListen == [.init(host: "0.0.0.0", port: 465)])
        #expect(!c.auth.restrictSenders)
        #expect(c.auth.maxFailures == 7 && c.auth.failureWindow == 600 && c.auth.failureDelay == 0.5)
        #expect(c.auth.users["alice@example.com"]?.sendAs == ["info@example.com", "@example.org"])
        #expect(c.auth.users["alice@example.com"]?.password.verify(Array("pw".utf8)) == true)
        let again = try ConfigurationLoader.load(text: ConfigurationPrinter.render(c), file: "printed")
        #expect(ConfigurationPrinter.render(again) == ConfigurationPrinter.render(c))
        #expect(PostieConfiguration.defaults().auth.users.isEmpty)
        #expect(PostieConfiguration.defaults().auth.restrictSenders)
    }

    @Test func syntaxErrorsNameTheLine() {
        do {
            _ = try ConfigurationLoader.load(text: "hostname = \"a\"\n[smtp\nlisten = 1\n", file: "bad.toml")
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("bad.toml:2: "))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func missingFile() {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: "/nonexistent/postie.toml") }
    }
}

/// The key table (`ConfigurationLoader.sections`) is the one place a key is declared: these
/// check that what it drives agrees.
@Suite struct ConfigurationKeyTableTests {
    /// Every key set away from its default: what check-config prints loads back to the same
    /// configuration, and a reload from the defaults to it names every key, each printed section
    /// and sub-table under its own name.
    @Test func everyKeyRoundTrips() throws {
        let dir = try TestPaths.temporaryDirectory("key-table")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "s3cret\n".write(toFile: dir + "/password", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/ca.pem", atomically: true, encoding: .utf8)
        try "new\nold\n".write(toFile: dir + "/srs.secret", atomically: true, encoding: .utf8)
        try "// a list of its own\ncom\nco.uk\n".write(toFile: dir + "/psl.dat", atomically: true, encoding: .utf8)
        try "a-bearer-token-of-some-length\n".write(toFile: dir + "/admin.token", atomically: true, encoding: .utf8)
        let pair = try TLSCredentials.selfSigned(hostname: "mx.example.com")
        try pair.certificate.write(toFile: dir + "/cert.pem", atomically: true, encoding: .utf8)
        try pair.key.write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        let text = """
            hostname = "mx.example.com"
            data_dir = "\(dir)/data"
            mail_root = "\(dir)/mail"
            log_level = "debug"
            log_format = "json"

            [smtp]
            listen = ["127.0.0.1:2526"]
            tls_listen = ["127.0.0.1:4650"]
            max_connections = 11
            max_connections_per_client = 12
            command_timeout = 13
            data_timeout = 14
            data_phase_limit = 15
            max_messages_per_connection = 16
            max_commands_per_connection = 17
            shutdown_grace = 18
            max_message_size = 1900
            max_recipients = 20
            max_errors = 21
            max_received_headers = 22
            strict_address_syntax = true
            unauthenticated_local_senders = "refuse"

            [recipients]
            delimiter = "-"
            postmaster_domain = "example.org"

            [relay]
            trusted_networks = ["192.0.2.0/24"]
            port = 2525
            tls = "verify"
            tls_ca_file = "\(dir)/ca.pem"
            smarthost = "smart.example.net:587"
            smarthost_user = "relay"
            smarthost_password_file = "\(dir)/password"
            dns_server = "127.0.0.1:5353"
            dns_timeout = 3
            dns_attempts = 4
            max_connections = 31
            max_connections_per_destination = 32
            max_messages_per_connection = 33
            mx_address_limit = 34
            mx_session_limit = 35
            connect_timeout = 36
            command_timeout = 37

            [relay.tls_policy]
            "bank.example" = "encrypt"

            [relay.routes]
            "partner.example" = "10.0.0.1:2525"

            [queue]
            retry_minimum = 41
            retry_maximum = 42
            max_lifetime = 43
            delay_warning = 44
            bounce_size_limit = 45
            reports_per_domain_per_hour = 46
            trace_retention = 3600

            [submission]
            listen = ["127.0.0.1:5870"]
            tls_listen = ["127.0.0.1:4651"]

            [auth]
            senders = "any"
            header_from = "any"
            max_failures = 51
            failure_window = 52
            failure_delay = 0.5

            [auth.users."alice@example.org"]
            password = "\(try PasswordHash.make(password: Array("pw".utf8), logRounds: 4).description)"
            send_as = ["@example.org"]

            [tls]
            certificate = "\(dir)/cert.pem"
            key = "\(dir)/key.pem"
            reload_interval = 61
            legacy_ciphers = true

            [delivery]
            local = "lmtp:unix:/run/dovecot/lmtp"

            [domains."example.org"]
            users = ["alice"]
            delivery = "maildir"
            catch_all = "alice"
            verify = "mark"

            [domains."example.org".aliases]
            info = ["alice"]

            [srs]
            enabled = false
            domain = "srs.example.org"
            max_age = 30
            secret_file = "\(dir)/srs.secret"

            [verify]
            enabled = false
            enforce = true
            spf_fail = "reject"
            quarantine = "tag"
            timeout = 7
            trusted_arc_sealers = ["lists.example.net"]
            public_suffix_list = "\(dir)/psl.dat"

            [admin]
            listen = ["0.0.0.0:9999"]
            token_file = "\(dir)/admin.token"
            """
        let c = try ConfigurationLoader.load(text: text, file: "every.toml")
        #expect(c.srs.secrets == [Array("new".utf8), Array("old".utf8)])
        #expect(c.verify.suffixes.count == 2)
        #expect(c.verify.byDomain == ["example.org": false])
        #expect(c.admin.token == "a-bearer-token-of-some-length")
        let printed = ConfigurationPrinter.render(c)
        #expect(printed.contains("verify = \"mark\""))
        let again = try ConfigurationLoader.load(text: printed, file: "printed")
        #expect(ConfigurationPrinter.render(again) == printed)
        #expect(c.relay.smarthostPassword == "s3cret")
        #expect(c.queue.retryMinimum == 41)
        #expect(c.relay.tlsPolicy == ["bank.example": .encrypt])
        // Every key of the table differs from the defaults, so a reload names every one.
        let changed = Set(ConfigurationChanges(from: PostieConfiguration.defaults(), to: c).changed)
        for section in ConfigurationLoader.sections where !section.isOpen {
            for key in section.keys {
                let name = section.name.isEmpty ? key.name : section.name + "." + key.name
                #expect(changed.contains(name), "\(name) did not round-trip through the printer")
            }
        }
        #expect(changed.contains("relay.routes.partner.example") || changed.contains("relay.routes.\"partner.example\""))
        #expect(!printed.contains("relay.relay"))
        // And the keys a restart needs are kept at their running values by a reload.
        let applied = ConfigurationChanges.applicable(c, running: PostieConfiguration.defaults())
        let stillChanged = Set(ConfigurationChanges(from: PostieConfiguration.defaults(), to: applied).changed)
        #expect(stillChanged.isDisjoint(with: ConfigurationChanges.restartKeys))
        #expect(ConfigurationChanges.restartKeys.isSubset(of: changed))
    }

    /// Every key in the table is described in docs/configuration.md.
    @Test func everyKeyIsDocumented() throws {
        let docs = try String(contentsOfFile: TestPaths.packageRoot + "/docs/configuration.md", encoding: .utf8)
        for section in ConfigurationLoader.sections where !section.isOpen {
            if !section.name.isEmpty { #expect(docs.contains("`[\(section.name)]`"), "section \(section.name)") }
            for key in section.keys + section.tables.map({ ConfigurationKey(name: $0, needsRestart: false, read: { _, _, _, _ in }, show: { _ in nil }, keep: { _, _ in }) }) {
                #expect(docs.contains("`\(key.name)`"), "\(section.name).\(key.name) is not in docs/configuration.md")
            }
        }
    }
}
