import Crypto
import Foundation
import Logging
import NIOCertificateReloading
import NIOSSL
import X509

/// The server's certificate and key: from the PEM files the configuration names, or, with none
/// named, a self-signed certificate for our host name made on first start (swift-certificates)
/// and kept in `<data_dir>/tls/`.
///
/// The files are read again every `tls.reload_interval` seconds (and at every reload) by
/// swift-nio-extras' `TimedCertificateReloader`, whose pair each new TLS handshake uses: a
/// renewed certificate is picked up without a restart. A pair that does not load (or whose key
/// does not match) is refused and the last good one stays in use.
struct TLSCredentials: Sendable {
    let certificatePath: String
    let keyPath: String
    let reloader: TimedCertificateReloader
    /// The server context: its certificate and key come from the reloader at each handshake.
    let context: NIOSSLContext

    /// Finds or makes the files and loads them; throws a `ConfigurationError`-like description
    /// naming the file when they cannot be used.
    /// `hostname` names a self-signed certificate, kept in `<dataDirectory>/tls/`.
    static func load(_ settings: TLSSettings, hostname: String, dataDirectory: String, logger: Logger) throws -> TLSCredentials {
        let (certPath, keyPath) = try files(settings, hostname: hostname, dataDirectory: dataDirectory, logger: logger)
        let reloaderConfiguration = TimedCertificateReloader.Configuration(
            refreshInterval: .seconds(settings.reloadInterval),
            certificateSource: .init(location: .file(path: certPath), format: .pem),
            privateKeySource: .init(location: .file(path: keyPath), format: .pem)
        ) { reloader in
            reloader.onCertificateLoaded = { diff in
                guard let previous = diff.previousX509CertificateChain?.first, let current = diff.currentX509CertificateChain.first,
                    previous != current
                else { return }
                logger.notice(
                    "a new TLS certificate is in use",
                    metadata: [
                        "certificate": .string(certPath), "subject": .string("\(current.subject)"),
                        "not_after": .string("\(current.notValidAfter)"),
                    ])
            }
            reloader.onCertificateLoadFailed = { failure in
                logger.warning(
                    "cannot load the TLS certificate; the last good one stays in use",
                    metadata: ["certificate": .string(certPath), "key": .string(keyPath), "error": .string("\(failure.error)")])
            }
        }
        let reloader: TimedCertificateReloader
        do {
            reloader = try TimedCertificateReloader.makeReloaderValidatingSources(configuration: reloaderConfiguration)
        } catch {
            throw CertificateError(certificate: certPath, key: keyPath, reason: "\(error)")
        }
        var tls = try TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)
        tls.minimumTLSVersion = .tlsv12  // RFC 8996 retired 1.0 and 1.1
        if !settings.legacyCiphers { tls.cipherSuites = modernTLS12Suites }
        return TLSCredentials(certificatePath: certPath, keyPath: keyPath, reloader: reloader, context: try NIOSSLContext(configuration: tls))
    }

    /// TLS 1.2 suites of Mozilla's "intermediate" profile that BoringSSL has: forward secrecy and
    /// AEAD only (no CBC with SHA-1). TLS 1.3's suites are all AEAD and not configurable.
    static let modernTLS12Suites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The certificate and key files in use, made (self-signed) when none are configured.
    private static func files(_ settings: TLSSettings, hostname: String, dataDirectory: String, logger: Logger) throws -> (String, String) {
        if let certPath = settings.certificate, let keyPath = settings.key { return (certPath, keyPath) }
        let dir = dataDirectory + "/tls"
        let certPath = dir + "/cert.pem"
        let keyPath = dir + "/key.pem"
        if !FileManager.default.fileExists(atPath: certPath) || !FileManager.default.fileExists(atPath: keyPath) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (certPEM, keyPEM) = try selfSigned(hostname: hostname)
            guard FileManager.default.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600]),
                FileManager.default.createFile(atPath: certPath, contents: Data(certPEM.utf8), attributes: [.posixPermissions: 0o644])
            else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: dir])
            }
            logger.notice(
                "no TLS certificate configured: made a self-signed one", metadata: ["certificate": .string(certPath), "hostname": .string(hostname)])
        }
        return (certPath, keyPath)
    }

    /// A certificate and key that cannot be used, in words for the operator.
    struct CertificateError: Error, CustomStringConvertible {
        var certificate: String
        var key: String
        var reason: String
        var description: String { "TLS certificate \(certificate) with key \(key): \(reason)" }
    }

    /// A P-256 key and a certificate for `hostname`, valid for ten years from a day ago.
    static func selfSigned(hostname: String) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(hostname) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-86400), notValidAfter: now.addingTimeInterval(10 * 365 * 86400), issuer: name,
            subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames([.dnsName(hostname)])
            }, issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
