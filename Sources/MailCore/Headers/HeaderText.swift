/// Text that came from elsewhere, made safe for one header line or one envelope field.
public enum HeaderText {
    /// Control characters (CR, LF, TAB, NUL …) become spaces, so the text can never end a line
    /// or a field early.
    public static func singleLine(_ text: String) -> String {
        // Usually there is nothing to replace; a control character is one UTF-8 octet.
        guard text.utf8.contains(where: { $0 < 32 || $0 == 127 }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? " " : $0 }))
    }
}
