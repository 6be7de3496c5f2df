#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Listening sockets handed over by systemd (sd_listen_fds(3): `LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`; descriptors from 3 on). With a `postie.socket` unit, systemd holds port 25
/// (so Postie needs no capability to bind it, and connections wait in the backlog across a
/// restart). Each socket's name (`FileDescriptorName=` in the unit) says what it is. Written by
/// hand: the protocol is three environment variables, and libsystemd would be a C dependency.
public struct SocketActivation: Sendable, Equatable {
    public typealias Kind = ListenerKind

    public struct Listener: Sendable, Equatable {
        public var descriptor: CInt
        public var kind: Kind
    }

    public var listeners: [Listener]

    /// A socket name that is none of the kinds.
    public struct UnknownName: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "socket activation: a socket named '\(name)'; name them (FileDescriptorName=) one of "
                + Kind.allCases.map(\.rawValue).joined(separator: ", ")
        }
    }

    /// The sockets passed to this process (`pid`), nil when there are none. Pure: tests give it
    /// any environment.
    public static func parse(_ environment: [String: String], pid: Int32) throws -> SocketActivation? {
        guard let listenPID = environment["LISTEN_PID"].flatMap(Int32.init), listenPID == pid,
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count > 0
        else { return nil }
        let names = environment["LISTEN_FDNAMES"]?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        var listeners: [Listener] = []
        for i in 0..<count {
            let name = i < names.count ? names[i] : "unknown"
            let kind: Kind
            if name == "unknown" || name.isEmpty {
                kind = .smtp
            } else if let k = Kind(rawValue: name) {
                kind = k
            } else {
                throw UnknownName(name: name)
            }
            listeners.append(Listener(descriptor: CInt(3 + i), kind: kind))
        }
        return SocketActivation(listeners: listeners)
    }

    /// The sockets passed to this process, taken once: the variables are removed (as
    /// sd_listen_fds does) so that no child inherits them, and the descriptors are made
    /// close-on-exec.
    public static func takeFromEnvironment() throws -> SocketActivation? {
        let found = try parse(ProcessInfo.processInfo.environment, pid: getpid())
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        for listener in found?.listeners ?? [] { _ = fcntl(listener.descriptor, F_SETFD, FD_CLOEXEC) }
        return found
    }
}
