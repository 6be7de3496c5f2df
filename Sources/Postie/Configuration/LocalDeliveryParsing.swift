import Delivery
import SMTPNIO

extension LocalDelivery {
    /// `maildir`, `lmtp:unix:/run/dovecot/lmtp`, `lmtp:127.0.0.1:24` or `lmtp:[::1]:24`.
    init?(_ text: String) {
        if text == "maildir" {
            self = .maildir
            return
        }
        guard text.hasPrefix("lmtp:") else { return nil }
        let target = text.dropFirst(5)
        if target.hasPrefix("unix:") {
            let path = String(target.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108 else { return nil }
            self = .lmtp(.unix(path: path))
            return
        }
        guard let address = PostieConfiguration.ListenAddress(String(target)), address.port > 0 else { return nil }
        self = .lmtp(.tcp(host: address.host, port: address.port))
    }
}
