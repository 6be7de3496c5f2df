/// Text that came from elsewhere, made safe for one header line or one envelope field.
public enum HeaderText {
    /// Control characters (CR, LF, TAB, NUL …) become spaces, so the text can never end a line
    /// or a field early.
    public static func singleLine(_ text: String) -> String {
        // Usually there is nothing to replace; a control character is one UTF-8 octet.
        guard text.utf8.contains(where: { isControl(UInt32($0)) }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0.value) ? " " : $0 }))
    }

    /// C0 controls and DEL (each one octet in UTF-8, so octets and scalars are tested alike).
    static func isControl(_ value: UInt32) -> Bool { value < 32 || value == 127 }
}
