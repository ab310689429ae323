using System.Security.Cryptography;

namespace Relay.Server.WebSockets;

/// RFC 6455 §4.2.2: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)).
internal static class HandshakeKey
{
    private static ReadOnlySpan<byte> Guid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    /// The key must be base64 of 16 bytes (§4.1): 24 characters.
    public static bool IsValid(ReadOnlySpan<byte> key)
    {
        if (key.Length != 24) return false;
        Span<byte> decoded = stackalloc byte[18];
        return System.Buffers.Text.Base64.DecodeFromUtf8(key, decoded, out _, out var written) == System.Buffers.OperationStatus.Done && written == 16;
    }

    public static string Accept(ReadOnlySpan<byte> key)
    {
        Span<byte> input = stackalloc byte[key.Length + Guid.Length];
        key.CopyTo(input);
        Guid.CopyTo(input[key.Length..]);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
        return Convert.ToBase64String(hash);
    }
}
