using System.Buffers;
using System.Buffers.Binary;

namespace Relay.Server.WebSockets;

/// Why a frame header was refused; each maps to a close code in <see cref="FrameReader"/>'s caller.
internal enum FrameError : byte
{
    None,
    ReservedBits,        // RSV1-3 without a negotiated extension: 1002
    UnknownOpcode,       // 1002
    NotMasked,           // clients must mask (§5.1): 1002
    BadControlFrame,     // control frames: FIN set and payload ≤ 125 (§5.5): 1002
    NonMinimalLength,    // 64-bit length with the top bit set (§5.2): 1002
}

/// A parsed RFC 6455 frame header (§5.2).
internal readonly struct FrameHeader
{
    public bool Fin { get; init; }
    public WebSocketOpcode Opcode { get; init; }
    public bool Masked { get; init; }
    public uint MaskKey { get; init; }         // the 4 mask bytes as they appear on the wire
    public long PayloadLength { get; init; }
    public int HeaderLength { get; init; }

    public bool IsControl => ((byte)Opcode & 0x8) != 0;
}

/// Parses frame headers from the bytes received so far. Returns false for "need more bytes";
/// a malformed header is reported through <c>error</c>, never thrown.
internal static class FrameReader
{
    /// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
    public const int MaxControlPayload = 125;
    /// The longest header: 2 + 8 (64-bit length) + 4 (mask).
    public const int MaxHeaderLength = 14;

    public static bool TryReadHeader(in ReadOnlySequence<byte> input, out FrameHeader header, out FrameError error)
    {
        var available = (int)Math.Min(input.Length, MaxHeaderLength);
        if (input.FirstSpan.Length >= available) return TryReadHeader(input.FirstSpan[..available], out header, out error);
        Span<byte> scratch = stackalloc byte[MaxHeaderLength];
        input.Slice(0, available).CopyTo(scratch);
        return TryReadHeader(scratch[..available], out header, out error);
    }

    public static bool TryReadHeader(ReadOnlySpan<byte> span, out FrameHeader header, out FrameError error)
    {
        header = default;
        error = FrameError.None;
        if (span.Length < 2) return false;

        var b0 = span[0];
        var b1 = span[1];
        var fin = (b0 & 0x80) != 0;
        var opcode = (WebSocketOpcode)(b0 & 0x0F);
        var masked = (b1 & 0x80) != 0;
        long length = b1 & 0x7F;

        if ((b0 & 0x70) != 0) { error = FrameError.ReservedBits; return true; }
        if (opcode is not (WebSocketOpcode.Continuation or WebSocketOpcode.Text or WebSocketOpcode.Binary
            or WebSocketOpcode.Close or WebSocketOpcode.Ping or WebSocketOpcode.Pong)) { error = FrameError.UnknownOpcode; return true; }
        if (!masked) { error = FrameError.NotMasked; return true; }
        var isControl = ((byte)opcode & 0x8) != 0;
        if (isControl && (!fin || length > MaxControlPayload)) { error = FrameError.BadControlFrame; return true; }

        var pos = 2;
        if (length == 126)
        {
            if (span.Length < 4) return false;
            length = BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
            pos = 4;
        }
        else if (length == 127)
        {
            if (span.Length < 10) return false;
            var l64 = BinaryPrimitives.ReadUInt64BigEndian(span[2..]);
            if ((l64 & 0x8000_0000_0000_0000UL) != 0) { error = FrameError.NonMinimalLength; return true; }
            length = (long)l64;
            pos = 10;
        }
        if (span.Length < pos + 4) return false;
        var mask = BinaryPrimitives.ReadUInt32LittleEndian(span[pos..]);
        pos += 4;

        header = new FrameHeader { Fin = fin, Opcode = opcode, Masked = masked, MaskKey = mask, PayloadLength = length, HeaderLength = pos };
        return true;
    }

    /// XORs <paramref name="data"/> in place with the mask, where <paramref name="offset"/> is
    /// the position of data[0] within the frame's payload (payloads may arrive in pieces).
    public static void Unmask(Span<byte> data, uint maskKey, long offset)
    {
        var rot = (int)(offset & 3) * 8;
        var mask = rot == 0 ? maskKey : (maskKey >> rot) | (maskKey << (32 - rot));
        var i = 0;
        var mask64 = ((ulong)mask << 32) | mask;
        var longs = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data);
        for (var k = 0; k < longs.Length; k++) longs[k] ^= mask64;
        i = longs.Length * 8;
        for (; i < data.Length; i++) data[i] ^= (byte)(mask >> ((i & 3) * 8));
    }
}
