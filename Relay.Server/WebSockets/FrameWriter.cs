using System.Buffers.Binary;

namespace Relay.Server.WebSockets;

/// Writes unmasked server frames (RFC 6455 §5.2: servers never mask).
internal static class FrameWriter
{
    public static int HeaderLength(int payloadLength) => payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;

    /// Writes a FIN frame header for <paramref name="payloadLength"/> bytes; returns its length.
    public static int WriteHeader(Span<byte> dst, WebSocketOpcode opcode, int payloadLength)
    {
        dst[0] = (byte)(0x80 | (byte)opcode);
        if (payloadLength < 126) { dst[1] = (byte)payloadLength; return 2; }
        if (payloadLength <= ushort.MaxValue)
        {
            dst[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)payloadLength);
            return 4;
        }
        dst[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(dst[2..], (ulong)payloadLength);
        return 10;
    }

    /// A complete frame in a new array.
    public static byte[] Frame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderLength(payload.Length) + payload.Length];
        var h = WriteHeader(frame, opcode, payload.Length);
        payload.CopyTo(frame.AsSpan(h));
        return frame;
    }

    /// RFC 6455 §5.5.1: a close frame carries the 2-byte code then a UTF-8 reason (≤ 123 bytes).
    public static byte[] Close(ushort code, string reason)
    {
        Span<byte> payload = stackalloc byte[FrameReader.MaxControlPayload];
        BinaryPrimitives.WriteUInt16BigEndian(payload, code);
        var n = 2;
        var text = System.Text.Encoding.UTF8.GetBytes(reason);
        var take = Math.Min(text.Length, FrameReader.MaxControlPayload - 2);
        // Don't cut a multi-byte character in half: the peer must see valid UTF-8 (§5.5.1).
        while (take > 0 && take < text.Length && (text[take] & 0xC0) == 0x80) take--;
        text.AsSpan(0, take).CopyTo(payload[n..]);
        return Frame(WebSocketOpcode.Close, payload[..(n + take)]);
    }
}
