import Crypto
import Foundation
import Logging
import NIOSSL
import X509

/// The server's certificate and key: from the PEM files the configuration names, or, with none
/// named, a self-signed certificate for our host name made on first start (swift-certificates)
/// and kept in `<data_dir>/tls/`.
struct TLSCredentials {
    let certificateChain: [NIOSSLCertificate]
    let privateKey: NIOSSLPrivateKey
    /// Where they came from, for the log.
    let source: String

    static func load(configuration: PostieConfiguration, logger: Logger) throws -> TLSCredentials {
        if let certPath = configuration.tlsCertificate, let keyPath = configuration.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(certPath)
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            return TLSCredentials(certificateChain: chain, privateKey: key, source: certPath)
        }
        let dir = configuration.dataDirectory + "/tls"
        let certPath = dir + "/cert.pem"
        let keyPath = dir + "/key.pem"
        if !FileManager.default.fileExists(atPath: certPath) || !FileManager.default.fileExists(atPath: keyPath) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (certPEM, keyPEM) = try selfSigned(hostname: configuration.hostname)
            guard FileManager.default.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600]),
                FileManager.default.createFile(atPath: certPath, contents: Data(certPEM.utf8), attributes: [.posixPermissions: 0o644])
            else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: dir])
            }
            logger.notice(
                "no TLS certificate configured: made a self-signed one", metadata: ["certificate": .string(certPath), "hostname": .string(configuration.hostname)])
        }
        let chain = try NIOSSLCertificate.fromPEMFile(certPath)
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        return TLSCredentials(certificateChain: chain, privateKey: key, source: certPath)
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

    /// TLS 1.2 at least (RFC 8996 retired 1.0 and 1.1).
    func serverContext() throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        config.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: config)
    }

    /// For relaying: opportunistic TLS accepts any certificate (RFC 7435); a required TLS policy
    /// verifies it.
    static func clientContext(verify: Bool, trustedCAs: String? = nil) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = verify ? .fullVerification : .none
        if verify, let trustedCAs { config.trustRoots = .file(trustedCAs) }
        return try NIOSSLContext(configuration: config)
    }
}
