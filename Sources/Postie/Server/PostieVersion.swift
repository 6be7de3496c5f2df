/// Postie's version, printed by `postie --version` and in the start-up log line. Raised by hand
/// with each release (semantic versioning: the configuration file and the spool's format are the
/// compatibility promise).
public enum PostieVersion {
    public static let current = "0.9.0"
}
