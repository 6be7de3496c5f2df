#if canImport(Glibc)
import Glibc
#endif

/// The envelope written at the end of the message's own file, so that committing a message
/// creates one file and syncs it once (with its folder): `[message][envelope text][length: UInt32
/// LE][FNV-1a of the text: UInt32 LE]["POSTIENV"]`. A message file without this trailer was never
/// committed (its write was cut short); a trailer whose checksum or length does not hold is
/// damage, set aside in quarantine. Readers of the message stop at the envelope's `size`.
///
/// Written by hand: it is Postie's own on-disk format.
enum EnvelopeTrailer {
    static let magic: [UInt8] = Array("POSTIENV".utf8)
    static let footerLength = 16

    enum Decoded {
        case envelope(String, messageSize: Int)
        /// No trailer: an uncommitted write.
        case absent
        case damaged(String)
    }

    static func encode(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out = bytes
        out.reserveCapacity(bytes.count + footerLength)
        append(UInt32(bytes.count), to: &out)
        append(fnv1a(bytes), to: &out)
        out += magic
        return out
    }

    /// Reads the trailer of an open message file (blocking).
    static func decode(fd: Int32, path: String) throws -> Decoded {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError("fstat", path) }
        let fileSize = Int(st.st_size)
        guard fileSize >= footerLength else { return .absent }
        let footer = try read(fd, count: footerLength, at: fileSize - footerLength, path: path)
        guard Array(footer[8..<16]) == magic else { return .absent }
        let length = Int(uint32(footer, at: 0))
        guard length <= fileSize - footerLength else { return .damaged("envelope length \(length) beyond the file") }
        let text = try read(fd, count: length, at: fileSize - footerLength - length, path: path)
        guard fnv1a(text) == uint32(footer, at: 4) else { return .damaged("envelope checksum does not match") }
        guard let string = String(validating: text, as: UTF8.self) else { return .damaged("envelope is not UTF-8") }
        return .envelope(string, messageSize: fileSize - footerLength - length)
    }

    private static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError("pread", path)
            }
            if n == 0 { throw StorageError("pread", path, errno: EIO) }
            done += n
        }
        return buffer
    }

    private static func append(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    private static func uint32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[index + $1]) << UInt32(8 * $1) }
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for b in bytes {
            hash ^= UInt32(b)
            hash = hash &* 16_777_619
        }
        return hash
    }
}
