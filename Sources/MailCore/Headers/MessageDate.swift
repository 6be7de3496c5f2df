/// RFC 5322 §3.3 date-time text from a Unix time, without Foundation (pure modules take the time
/// as a value). Always UTC, `+0000`.
public enum MessageDate {
    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 29 Nov 2026 21:37:57 +0000`.
    public static func rfc5322(unixTime: Int64) -> String {
        let c = civil(unixTime)
        return "\(days[Int(((c.dayNumber % 7) + 7) % 7)]), \(c.day) \(months[c.month - 1]) \(c.year) "
            + "\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second)) +0000"
    }

    /// `2026-11-29T21:37:57Z`.
    public static func iso8601(unixTime: Int64) -> String {
        let c = civil(unixTime)
        return "\(c.year)-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second))Z"
    }

    private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Howard Hinnant's days-to-civil algorithm.
    static func civil(_ t: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, dayNumber: Int64) {
        var dayNumber = t / 86400
        var secs = t % 86400
        if secs < 0 {
            secs += 86400
            dayNumber -= 1
        }
        let z = dayNumber + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d), Int(secs / 3600), Int(secs % 3600 / 60), Int(secs % 60), dayNumber)
    }
}
