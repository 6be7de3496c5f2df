import Postie
import Testing

@Suite struct SocketActivationParseTests {
    @Test func socketsAreTakenOnlyForThisProcessAndByName() throws {
        let env = ["LISTEN_PID": "42", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "smtp:submission:submissions"]
        #expect(try SocketActivation.parse(env, pid: 41) == nil, "for another process")
        let found = try SocketActivation.parse(env, pid: 42)
        #expect(found?.listeners.map(\.descriptor) == [3, 4, 5])
        #expect(found?.listeners.map(\.kind) == [.smtp, .submission, .submissions])
        #expect(try SocketActivation.parse(["LISTEN_PID": "7", "LISTEN_FDS": "1"], pid: 7)?.listeners.map(\.kind) == [.smtp], "unnamed: smtp")
        #expect(try SocketActivation.parse(["LISTEN_PID": "7", "LISTEN_FDS": "0"], pid: 7) == nil)
        #expect(throws: SocketActivation.UnknownName.self) {
            try SocketActivation.parse(["LISTEN_PID": "7", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "imap"], pid: 7)
        }
    }
}
