import Foundation
import MailAuth
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The SRS secret: read from its file (postsrsd's format: one secret a line, the first signing),
/// or, for the default file under the data directory, made on first start with 32 random octets
/// in base64, mode 0600. A configuration's secrets are filled in at start and at each reload.
enum SRSSecret {
    static func load(into config: inout PostieConfiguration) throws {
        // Off, or read already by the configuration loader (a file that existed).
        guard config.srs.enabled, config.srs.secrets.isEmpty else { return }
        let path = config.srs.secretPath(dataDirectory: config.dataDirectory)
        if !POSIXFile.exists(path), config.srs.secretFile == nil {
            var random = [UInt8](repeating: 0, count: 32)
            guard getentropy(&random, random.count) == 0 else { throw StorageError("getentropy", path) }
            do {
                try POSIXFile.createNew(path, contents: Array((Data(random).base64EncodedString() + "\n").utf8))
            } catch let error as StorageError where error.errno == EEXIST {
                // Another process made it meanwhile: it is read below.
            }
        }
        config.srs.secrets = SRS.secrets(fromFile: String(decoding: try POSIXFile.readAll(path), as: UTF8.self))
        guard !config.srs.secrets.isEmpty else { throw StorageError("read", path, errno: EINVAL) }
    }
}
