#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Tells systemd what the server is doing (sd_notify(3): `READY=1`, `RELOADING=1`, `STOPPING=1`,
/// `STATUS=…`) through the datagram socket named by `NOTIFY_SOCKET`, for `Type=notify` units.
/// Written by hand: the protocol is one datagram, and libsystemd would be a C dependency for it.
public struct SystemdNotifier: Sendable {
    public let socketPath: String

    /// Nil when the process was not started by systemd with a notify socket.
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], path.hasPrefix("/") || path.hasPrefix("@"), path.utf8.count < 108 else {
            return nil
        }
        socketPath = path
    }

    /// Sends one notification (lines of `KEY=value`); failures are ignored, as sd_notify's are.
    public func send(_ state: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // an abstract socket
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, octet) in path.enumerated() { raw[i] = octet }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }

    /// `RELOADING=1` with the monotonic time systemd's `Type=notify-reload` asks for.
    public static func reloading() -> String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return "RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)"
    }
}
