import Postie
import Testing

/// What an operator reads when a configuration file has mistakes: all of them at once, the key
/// most likely meant, and what an unquoted dotted domain table really says.
@Suite struct ConfigurationErrorTests {
    /// Every problem of a file in one go, in the order of the file, each with its line and key.
    @Test func everyErrorIsReportedNotJustTheFirst() {
        let text = """
            hostname = "mx.example.com"
            log_level = "loud"

            [smtp]
            max_recipients = "many"
            max_conections = 10
            max_errors = 5

            [queue]
            retry_minimum = 0

            [domains.example.com]
            users = ["alice"]
            """
        do {
            _ = try ConfigurationLoader.load(text: text, file: "postie.toml")
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(
                error.all.map(\.description) == [
                    "postie.toml:2: log_level: must be one of trace, debug, info, notice, warning, error, critical",
                    "postie.toml:5: smtp.max_recipients: must be a whole number",
                    "postie.toml:6: smtp.max_conections: unknown key; did you mean max_connections?",
                    "postie.toml:10: queue.retry_minimum: must be between 1 and 86400",
                    "postie.toml:12: domains.example.com: a domain name with dots needs quotes: write [domains.\"example.com\"]",
                ])
            #expect(error.description.split(separator: "\n").count == 5)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test(arguments: [
        ("strict_adress_syntax", "strict_address_syntax"), ("maxerrors", "max_errors"), ("LISTEN", "listen"),
        ("command_timout", "command_timeout"),
    ])
    func theNearestKnownKeyIsSuggested(typo: String, meant: String) {
        do {
            _ = try ConfigurationLoader.load(text: "[smtp]\n\(typo) = 1\n", file: "p.toml")
            Issue.record("accepted \(typo)")
        } catch let error as ConfigurationError {
            #expect(error.message == "unknown key; did you mean \(meant)?")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func aCertificateThatCannotBeReadNamesTheKeyAndTheFile() {
        do {
            _ = try ConfigurationLoader.load(
                text: "[tls]\ncertificate = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n", file: "p.toml")
            Issue.record("accepted")
        } catch let error as ConfigurationError {
            #expect(
                error.all.map(\.description) == [
                    "p.toml:2: tls.certificate: cannot read /nonexistent/cert.pem: No such file or directory"
                ])
        } catch {
            Issue.record("\(error)")
        }
    }
}
