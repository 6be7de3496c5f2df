import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What an operator's tools see of a running `postie`: Python sends a message with smtplib, then
/// reads the admin API and the metrics with urllib, and every line of the JSON log with its json
/// module.
@Suite struct ObservedFromOutsideTests {
    @Test func jsonLogAndAdminAPIReadByPython() async throws {
        try await blocking { try Self.check() }
    }

    static func check() throws {
        let dir = try TestPaths.temporaryDirectory("observed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try TestPaths.freePort()
        let server = try PostieProcess(directory: dir, top: #"log_format = "json""#, admin: "listen = [\"127.0.0.1:\(port)\"]")
        try server.start()
        let client = try Subprocess.python(
            """
            import json, smtplib, sys, time, urllib.request
            smtp, admin = int(sys.argv[1]), 'http://127.0.0.1:%s' % sys.argv[2]
            s = smtplib.SMTP('127.0.0.1', smtp, timeout=30)
            s.sendmail('a@client.example', ['carolyn@xyz.com'], b'Subject: watched\\r\\n\\r\\nbody\\r\\n')
            s.quit()
            delivered = 'postie_deliveries_total{target="maildir",result="sent"} 1'
            deadline = time.time() + 20
            while time.time() < deadline:
                metrics = urllib.request.urlopen(admin + '/metrics', timeout=10).read().decode()
                if delivered in metrics: break
                time.sleep(0.1)
            print('delivered' if delivered in metrics else 'not delivered')
            queue = json.load(urllib.request.urlopen(admin + '/api/queue', timeout=10))
            print('queue', queue['total'], queue['limit'])
            ready = json.load(urllib.request.urlopen(admin + '/readyz', timeout=10))
            print('ready', ready['ready'], sorted(ready['checks']))
            """, ["\(server.port)", "\(port)"])
        #expect(client.status == 0, "\(client.stderr)")
        #expect(
            client.stdout == "delivered\nqueue 0 100\nready True ['listening', 'not_stopping', 'spool_recovered', 'spool_space']\n",
            "\(client.stdout)")
        server.process.signal(SIGTERM)
        #expect(server.process.waitForExit(timeout: 20) == 0)

        // Every line of the log is one JSON object; the message's `queued` line carries its fields.
        let log = try Subprocess.python(
            """
            import json, sys
            lines = sys.stdin.read().splitlines()
            events = [json.loads(line) for line in lines]
            assert all(isinstance(e, dict) and e['level'] and e['time'] for e in events), 'fields'
            queued = [e for e in events if e['message'] == 'queued']
            q = queued[0]
            print(len(queued), q['from'], q['to'], q['nrcpt'], q['helo'] != '', len(q['queue_id']) > 0)
            print(any(e['message'] == 'sent' and e.get('status') == 'sent' and e.get('queue_id') == q['queue_id'] for e in events))
            """, stdin: server.process.stderrLines.joined(separator: "\n") + "\n")
        #expect(log.status == 0, "\(log.stderr)")
        #expect(log.stdout == "1 <a@client.example> <carolyn@xyz.com> 1 True True\nTrue\n", "\(log.stdout)")
    }
}
