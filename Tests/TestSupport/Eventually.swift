import Foundation

/// Waits until the condition holds, at most `seconds` (bounded: a test never hangs), checking
/// every 50 ms; returns whether it held. For outcomes that come asynchronously (a delivery, a
/// retry), not for timing.
public func eventually(_ seconds: Double = 15, _ condition: () async -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return await condition()
}

