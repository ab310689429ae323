namespace Relay.Server.WebSockets;

/// RFC 6455 §5.2 opcodes.
internal enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// RFC 6455 §7.4.1 status codes the relay sends.
internal static class CloseCodes
{
    public const ushort Normal = 1000;
    public const ushort GoingAway = 1001;
    public const ushort ProtocolError = 1002;
    public const ushort UnsupportedData = 1003;
    public const ushort InvalidPayload = 1007;     // e.g. a text message that is not UTF-8
    public const ushort PolicyViolation = 1008;
    public const ushort MessageTooBig = 1009;
    public const ushort InternalError = 1011;
    public const ushort TryAgainLater = 1013;

    /// Codes a peer may send in a close frame (§7.4.1, §7.4.2): 1000–1003, 1007–1011 and the
    /// IANA-registered 1012–1014, 3000–4999.
    public static bool IsValidReceived(ushort code) =>
        code is >= 1000 and <= 1003 or >= 1007 and <= 1014 or >= 3000 and <= 4999;
}
