/// A limit of one SMTP session that the client went past, and was refused or cut off for. Named
/// for metrics (`postie_limits_hit_total{limit}`). The session finds all but the data phase's
/// time, which the connection's clock enforces; the server adds its own (connections,
/// authentication failures).
public enum SessionLimit: String, Hashable, Sendable, CaseIterable {
    /// `max_message_size`: declared with SIZE=, or reached while the data streamed in.
    case messageSize = "message_size"
    /// `max_recipients` in one transaction.
    case recipients
    /// A command or text line longer than RFC 5321 §4.5.3.1 allows.
    case lineLength = "line_length"
    /// `max_commands_per_connection`.
    case commands = "commands_per_connection"
    /// `max_messages_per_connection`.
    case messages = "messages_per_connection"
    /// `max_errors`: the connection was closed after too many refused commands.
    case errors
    /// `data_phase_limit`: one message's data took too long.
    case dataPhaseTime = "data_phase_time"
}
