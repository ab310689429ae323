using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Runtime.InteropServices;

namespace Relay.LoadTests.Net;

/// RFC 6455 framing as a client sees it: frames from the server arrive unmasked, frames we send
/// are masked. No extensions are negotiated, so the reserved bits must be clear.
internal static class WebSocketFrame
{
    public const byte Continuation = 0x0;
    public const byte Text = 0x1;
    public const byte Binary = 0x2;
    public const byte Close = 0x8;
    public const byte Ping = 0x9;
    public const byte Pong = 0xA;

    /// The longest server frame header: 2 bytes and an 8-byte length (no mask).
    public const int MaxServerHeaderBytes = 10;

    /// A server frame header, as parsed from the start of the received bytes.
    public readonly record struct Header(byte Opcode, bool Fin, int HeaderLength, long PayloadLength)
    {
        public bool IsControl => (Opcode & 0x8) != 0;

        public long FrameLength => HeaderLength + PayloadLength;
    }

    /// Parses the frame header at the start of <paramref name="received"/>: false when the header
    /// has not all arrived yet. Throws WebSocketException for a frame a server must not send.
    public static bool TryReadServerHeader(ReadOnlySpan<byte> received, out Header header)
    {
        header = default;
        if (received.Length < 2) return false;
        var first = received[0];
        var second = received[1];
        if ((first & 0x70) != 0) throw ProtocolError("reserved bits set (no extension was negotiated)");
        if ((second & 0x80) != 0) throw ProtocolError("masked frame from the server");
        var opcode = (byte)(first & 0x0F);
        var fin = (first & 0x80) != 0;
        long payloadLength = second & 0x7F;
        var headerLength = 2;
        if (payloadLength == 126)
        {
            if (received.Length < 4) return false;
            payloadLength = BinaryPrimitives.ReadUInt16BigEndian(received[2..]);
            headerLength = 4;
        }
        else if (payloadLength == 127)
        {
            if (received.Length < 10) return false;
            var length64 = BinaryPrimitives.ReadUInt64BigEndian(received[2..]);
            if (length64 > long.MaxValue) throw ProtocolError("payload length has its top bit set");
            payloadLength = (long)length64;
            headerLength = 10;
        }
        switch (opcode)
        {
            case Continuation or Text or Binary:
                break;
            case Close or Ping or Pong:
                if (!fin || payloadLength > 125) throw ProtocolError("control frame fragmented or longer than 125 bytes");
                break;
            default:
                throw ProtocolError($"unknown opcode {opcode}");
        }
        header = new Header(opcode, fin, headerLength, payloadLength);
        return true;
    }

    /// Bytes a masked FIN client frame with this payload takes (header, 4-byte mask, payload).
    public static int ClientFrameLength(int payloadLength) =>
        (payloadLength <= 125 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10) + 4 + payloadLength;

    /// Writes one masked FIN client frame into <paramref name="destination"/> (at least
    /// <see cref="ClientFrameLength"/> bytes) and returns its length.
    public static int WriteClientFrame(Span<byte> destination, byte opcode, ReadOnlySpan<byte> payload)
    {
        const byte masked = 0x80;
        destination[0] = (byte)(0x80 | opcode);
        int maskAt;
        if (payload.Length <= 125)
        {
            destination[1] = (byte)(masked | payload.Length);
            maskAt = 2;
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            destination[1] = masked | 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payload.Length);
            maskAt = 4;
        }
        else
        {
            destination[1] = masked | 127;
            BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payload.Length);
            maskAt = 10;
        }
        // The mask only keeps naive proxies from mistaking payloads for requests; on loopback a
        // cheap PRNG is as good as a cryptographic one and costs far less per frame.
        var mask = destination.Slice(maskAt, 4);
        Random.Shared.NextBytes(mask);
        var body = destination.Slice(maskAt + 4, payload.Length);
        payload.CopyTo(body);
        ApplyMask(body, mask);
        return maskAt + 4 + payload.Length;
    }

    /// XORs <paramref name="data"/> with the 4-byte mask repeated, 8 bytes at a time.
    private static void ApplyMask(Span<byte> data, ReadOnlySpan<byte> mask)
    {
        // Both halves of the 8-byte key are the mask as it lies in memory, so byte i of the data
        // meets mask[i % 4] whatever the machine's endianness.
        var key4 = MemoryMarshal.Read<uint>(mask);
        var key8 = ((ulong)key4 << 32) | key4;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        for (var i = 0; i < words.Length; i++) words[i] ^= key8;
        for (var i = words.Length * sizeof(ulong); i < data.Length; i++) data[i] ^= mask[i & 3];
    }

    public static WebSocketException ProtocolError(string what) =>
        new(WebSocketError.Faulted, $"WebSocket protocol error from the relay: {what}");
}
