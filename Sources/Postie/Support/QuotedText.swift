import SMTPCore

/// Text in double quotes with `"` and `\` escaped, `\n`, `\r`, `\t`, and `\uXXXX` for any other
/// control, separator or bidirectional character: valid as a JSON string, a TOML basic string and
/// a logfmt value alike. The log (every text from outside goes through here before it reaches
/// it) and `check-config`'s printout share it.
enum QuotedText {
    static func quoted(_ value: String) -> String {
        var out = ""
        append(value, to: &out)
        return out
    }

    static func append(_ value: String, to line: inout String) {
        line += "\""
        appendEscaped(value, to: &line)
        line += "\""
    }

    static func appendEscaped(_ value: String, to line: inout String) {
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            default:
                // Controls (an ESC sequence would drive a terminal), and what would break the line
                // or turn its text around (U+2028, U+202E …).
                if AddressGrammar.isMisleading(scalar) {
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
    }
}
