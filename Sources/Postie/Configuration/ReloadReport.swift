/// What a reload did: the keys it changed and those that wait for a restart, or why it was refused.
public struct ReloadReport: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var changed: [String]
    public var needRestart: [String]

    public static func refused(_ why: String) -> ReloadReport { ReloadReport(ok: false, error: why, changed: [], needRestart: []) }
}
