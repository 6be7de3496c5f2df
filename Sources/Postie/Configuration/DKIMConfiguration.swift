import Foundation
import MailAuth
import MailCore
import SMTPCore
import Storage
import TOMLKit

extension ConfigurationLoader.Reader {
    /// `[dkim."example.com"]`: the selectors whose keys sign the domain's mail, and where their
    /// files are (`<key_dir>/<selector>.pem`, by default under `<data_dir>/dkim/<domain>/`). Each
    /// key is read now: a missing, unreadable, short or foreign key is an error naming it.
    func readDKIM(_ dkim: TOMLTable, _ config: inout PostieConfiguration) throws {
        for name in dkim.keys.sorted() where name != "expiry" {
            let path = ["dkim", name]
            let domain = name.lowercased()
            guard domain.contains("."), AddressGrammar.isDomain(Array(domain.utf8)[...]) else {
                throw error(path, "'\(name)' is not a domain name (write [dkim.\"example.com\"], with quotes)")
            }
            guard let table = try subtable(dkim, name, ["dkim"]) else { continue }
            try only(table, path, keys: ["selectors", "key_dir"])
            guard let selectors = try strings(table, "selectors", path), !selectors.isEmpty else {
                throw error(path + ["selectors"], "must name at least one selector, such as [\"rsa2026\"]")
            }
            let directory = try string(table, "key_dir", path)
            if let directory { config.dkim.keyDirectories[domain] = directory }
            var keys: [DKIMSettings.Key] = []
            for selector in selectors {
                guard DKIMSigner.isSelector(selector) else {
                    throw error(path + ["selectors"], "'\(selector)' is not a selector (letters, digits and hyphens)")
                }
                let file = "\(directory ?? config.dataDirectory + "/dkim/" + domain)/\(selector).pem"
                guard let data = try? POSIXFile.readAll(file) else {
                    throw error(
                        path + ["selectors"],
                        "cannot read the key of selector \(selector), \(file) (make one with: postie dkim keygen --domain \(domain) --selector \(selector))"
                    )
                }
                do {
                    keys.append(.init(selector: selector, file: file, key: try DKIMKey(pem: String(decoding: data, as: UTF8.self))))
                } catch {
                    throw self.error(path + ["selectors"], "the key of selector \(selector), \(file), is \(error)")
                }
            }
            config.dkim.domains[domain] = keys
        }
    }
}
