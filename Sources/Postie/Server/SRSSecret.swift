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
        guard config.srs.enabled else { return }
        let path = config.srs.secretPath(dataDirectory: config.dataDirectory)
        if FileManager.default.fileExists(atPath: path) == false, config.srs.secretFile == nil {
            var random = [UInt8](repeating: 0, count: 32)
            guard getentropy(&random, random.count) == 0 else { throw StorageError("getentropy", path) }
            let line = Array((Data(random).base64EncodedString() + "\n").utf8)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            // Another process may have made it meanwhile: then it is read below.
            if fd >= 0 {
                defer { close(fd) }
                try POSIXFile.writeAll(fd, line, at: 0, path: path)
                try POSIXFile.sync(fd, path: path)
            }
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw StorageError("open", path) }
        config.srs.secrets = SRS.secrets(fromFile: String(decoding: data, as: UTF8.self))
        guard !config.srs.secrets.isEmpty else { throw StorageError("read", path, errno: EINVAL) }
    }
}
