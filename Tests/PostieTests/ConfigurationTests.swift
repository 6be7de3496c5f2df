import MailCore
import Postie
import Testing

@Suite struct ConfigurationTests {
    @Test func embeddedDefaults() {
        let c = PostieConfiguration.defaults()
        #expect(c.listen == [.init(host: "127.0.0.1", port: 2525)])
        #expect(c.dataDirectory == "./postie-data")
        #expect(c.effectiveMailRoot == "./postie-data/mail")
        #expect(c.domains.keys.sorted() == ["localhost"])
        #expect(c.domains["localhost"]?.users.contains("postmaster") == true)
        #expect(c.trustedNetworks.isEmpty)
        #expect(c.limits.maxRecipients == 100)
        #expect(c.limits.maxErrors == 10)
        #expect(c.maxReceivedHeaders == 100)
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
        #expect(c.listen == [.init(host: "0.0.0.0", port: 25), .init(host: "::", port: 25)])
        #expect(c.limits.maxMessageSize == 10_485_760)
        #expect(c.limits.maxRecipients == 50)
        #expect(c.commandTimeout == 120)
        #expect(c.recipientDelimiter == "-")
        #expect(c.trustedNetworks.count == 2)
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
        #expect(c.submissionListen == [.init(host: "0.0.0.0", port: 587)])
        #expect(c.submissionTLSListen == [.init(host: "0.0.0.0", port: 465)])
        #expect(!c.restrictSenders)
        #expect(c.authMaxFailures == 7 && c.authFailureWindow == 600 && c.authFailureDelay == 0.5)
        #expect(c.users["alice@example.com"]?.sendAs == ["info@example.com", "@example.org"])
        #expect(c.users["alice@example.com"]?.password.verify(Array("pw".utf8)) == true)
        let again = try ConfigurationLoader.load(text: ConfigurationPrinter.render(c), file: "printed")
        #expect(ConfigurationPrinter.render(again) == ConfigurationPrinter.render(c))
        #expect(PostieConfiguration.defaults().users.isEmpty)
        #expect(PostieConfiguration.defaults().restrictSenders)
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
