/// A configuration file that cannot be used, naming the file, the line and the key. A file with
/// several problems gives one error that carries the others, so that all are reported at once.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String
    /// The file's other problems, in the order of the file.
    public var others: [ConfigurationError] = []

    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// Every problem, this one first.
    public var all: [ConfigurationError] {
        var first = self
        first.others = []
        return [first] + others
    }

    /// `postie.toml:12: smtp.max_errors: must be a whole number`, one line per problem.
    public var description: String {
        all.map { problem in
            var s = problem.file
            if let line = problem.line { s += ":\(line)" }
            s += ": "
            if let key = problem.key { s += "\(key): " }
            return s + problem.message
        }.joined(separator: "\n")
    }
}
