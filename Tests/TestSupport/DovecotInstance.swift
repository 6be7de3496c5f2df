import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private Dovecot (Debian's `dovecot-lmtpd` and `dovecot-imapd`) for tests: its own folder,
/// configuration and log, LMTP on a Unix socket and a loopback port, IMAP on a loopback port,
/// users from a passwd-file with a password and a quota each. Mail is kept as Maildirs under
/// `mailRoot` (`<mailRoot>/<domain>/<user>`). It stops when this object goes away.
public final class DovecotInstance: @unchecked Sendable {
    public let directory: String
    public let imapPort: Int
    public let lmtpPort: Int
    public var lmtpSocket: String { directory + "/run/lmtp" }
    public let mailRoot: String
    private let process: RunningProcess

    public struct User {
        public var address: String
        public var password: String
        /// Dovecot's quota rule value (`100M`; a bare number counts kilobytes, the incoming message
        /// included).
        public var quota: String

        public init(_ address: String, password: String = "secret", quota: String = "100M") {
            self.address = address
            self.password = password
            self.quota = quota
        }
    }

    /// `mailRoot`: where the Maildirs live (by default inside the instance's folder); the
    /// unprivileged user the mail processes run as gets it.
    public init(users: [User], mailRoot: String? = nil) throws {
        directory = try TestPaths.temporaryDirectory("dovecot")
        self.mailRoot = mailRoot ?? directory + "/mail"
        imapPort = try TestPaths.freePort()
        lmtpPort = try TestPaths.freePort()
        for sub in ["run", "state", "home"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: self.mailRoot, withIntermediateDirectories: true)
        // The mail processes run as nobody; the test runs as root, so the folders are handed over.
        for path in [self.mailRoot, directory + "/home"] { _ = chown(path, 65534, 65534) }
        let home = directory + "/home"
        let passwd = users.map {
            "\($0.address):{PLAIN}\($0.password):65534:65534::\(home)/\($0.address)::userdb_quota_rule=*:storage=\($0.quota)"
        }.joined(separator: "\n") + "\n"
        try passwd.write(toFile: directory + "/users", atomically: true, encoding: .utf8)
        let config = """
            base_dir = \(directory)/run
            state_dir = \(directory)/state
            log_path = \(directory)/dovecot.log
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain
            protocols = imap lmtp
            listen = 127.0.0.1
            first_valid_uid = 1
            mail_location = maildir:\(self.mailRoot)/%d/%n
            mail_plugins = quota
            plugin {
              quota = maildir:User quota
            }
            passdb {
              driver = passwd-file
              args = \(directory)/users
            }
            userdb {
              driver = passwd-file
              args = \(directory)/users
            }
            service imap-login {
              inet_listener imap {
                address = 127.0.0.1
                port = \(imapPort)
              }
              inet_listener imaps {
                port = 0
              }
            }
            service lmtp {
              unix_listener lmtp {
                mode = 0666
              }
              inet_listener lmtp {
                address = 127.0.0.1
                port = \(lmtpPort)
              }
            }
            protocol lmtp {
              postmaster_address = postmaster@xyz.com
              quota_full_tempfail = yes
            }

            """
        try config.write(toFile: directory + "/dovecot.conf", atomically: true, encoding: .utf8)
        process = try RunningProcess(["/usr/sbin/dovecot", "-F", "-c", directory + "/dovecot.conf"])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !FileManager.default.fileExists(atPath: lmtpSocket) { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: lmtpSocket) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "dovecot did not start: \(log)"])
        }
    }

    public var log: String { (try? String(contentsOfFile: directory + "/dovecot.log", encoding: .utf8)) ?? "" }

    deinit {
        process.signal(SIGTERM)
        _ = process.waitForExit(timeout: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
