import ArgumentParser
import Foundation
import Postie

#if canImport(Glibc)
import Glibc
#endif

/// `postie health`: asks the running server's admin listener whether it is ready (`/readyz`), for
/// container and service health checks: exit 0 when it is, 1 when not or unreachable.
struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "Exit 0 when the running server is ready to take mail (its /readyz), else 1.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Ask /healthz (the process serves) instead of /readyz.")
    var live = false

    @Option(help: "Seconds to wait for the answer.")
    var timeout = 5

    func run() throws {
        let config = try options.load()
        guard let address = config.admin.listen.first else {
            FileHandle.standardError.write(Data("postie health: [admin] listen is empty: nothing to ask\n".utf8))
            throw ExitCode(1)
        }
        let path = live ? "/healthz" : "/readyz"
        // A listener on every address is asked on loopback.
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host == "::" ? "::1" : address.host
        do {
            let (status, body) = try HTTPGet.fetch(host: host, port: address.port, path: path, token: config.admin.token, timeout: timeout)
            print(String(decoding: body, as: UTF8.self), terminator: body.last == 10 ? "" : "\n")
            if status != 200 { throw ExitCode(1) }
        } catch let error as HTTPGet.Failure {
            FileHandle.standardError.write(Data("postie health: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// One HTTP/1.0 GET over a plain socket, blocking: all `postie health` needs, and nothing to
/// start or stop. Written by hand: no HTTP client is worth its build time for one request.
enum HTTPGet {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func fetch(host: String, port: Int, path: String, token: String?, timeout: Int) throws -> (Int, [UInt8]) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "cannot make a socket") }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "nothing answers on \(host):\(port) (\(String(cString: strerror(errno))))")
        }
        var request = "GET \(path) HTTP/1.0\r\nHost: \(host)\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw Failure(description: "cannot send the request")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        guard let end = response.firstRange(of: [13, 10, 13, 10]) else { throw Failure(description: "no HTTP answer from \(host):\(port)") }
        let statusLine = String(decoding: response[..<(response.firstIndex(of: 13) ?? end.lowerBound)], as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "a malformed answer: \(statusLine)") }
        return (status, Array(response[end.upperBound...]))
    }
}
