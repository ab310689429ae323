using System.Buffers;
using System.Globalization;
using System.Text;

namespace Relay.Storage.Model;

/// Writes JSON text exactly as Nostr clients serialise events for the id (NIP-01).
// NIP-01's seven escapes, other C0 controls as \u00xx (as JSON.stringify does), the rest verbatim.
// System.Text.Json escapes more (e.g. '<', non-ASCII), which would change the id: hand-written.
public static class CanonicalJson
{
    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;

    public static void WriteString(IBufferWriter<byte> w, string s)
    {
        var max = Encoding.UTF8.GetMaxByteCount(s.Length);
        byte[]? rented = null;
        Span<byte> utf8 = max <= 1024 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var n = Encoding.UTF8.GetBytes(s, utf8);
        WriteUtf8String(w, utf8[..n]);
        if (rented != null) ArrayPool<byte>.Shared.Return(rented);
    }

    /// Writes a quoted JSON string from already-unescaped UTF-8 bytes.
    public static void WriteUtf8String(IBufferWriter<byte> w, ReadOnlySpan<byte> utf8)
    {
        // Worst case every byte becomes \u00xx (6 bytes), plus quotes.
        var dst = w.GetSpan(utf8.Length * 6 + 2);
        var o = 0;
        dst[o++] = (byte)'"';
        foreach (var b in utf8)
        {
            switch (b)
            {
                case (byte)'"': dst[o++] = (byte)'\\'; dst[o++] = (byte)'"'; break;
                case (byte)'\\': dst[o++] = (byte)'\\'; dst[o++] = (byte)'\\'; break;
                case (byte)'\n': dst[o++] = (byte)'\\'; dst[o++] = (byte)'n'; break;
                case (byte)'\r': dst[o++] = (byte)'\\'; dst[o++] = (byte)'r'; break;
                case (byte)'\t': dst[o++] = (byte)'\\'; dst[o++] = (byte)'t'; break;
                case (byte)'\b': dst[o++] = (byte)'\\'; dst[o++] = (byte)'b'; break;
                case (byte)'\f': dst[o++] = (byte)'\\'; dst[o++] = (byte)'f'; break;
                case < 0x20:
                    dst[o++] = (byte)'\\'; dst[o++] = (byte)'u'; dst[o++] = (byte)'0'; dst[o++] = (byte)'0';
                    dst[o++] = HexDigits[b >> 4]; dst[o++] = HexDigits[b & 0xF];
                    break;
                default: dst[o++] = b; break;
            }
        }
        dst[o++] = (byte)'"';
        w.Advance(o);
    }

    public static void WriteRaw(IBufferWriter<byte> w, ReadOnlySpan<byte> bytes) => w.Write(bytes);

    public static void WriteInt64(IBufferWriter<byte> w, long value)
    {
        var dst = w.GetSpan(20);
        value.TryFormat(dst, out var n, default, CultureInfo.InvariantCulture);
        w.Advance(n);
    }

    public static void WriteTags(IBufferWriter<byte> w, string[][] tags)
    {
        w.Write("["u8);
        for (var i = 0; i < tags.Length; i++)
        {
            if (i > 0) w.Write(","u8);
            w.Write("["u8);
            var tag = tags[i];
            for (var j = 0; j < tag.Length; j++)
            {
                if (j > 0) w.Write(","u8);
                WriteString(w, tag[j]);
            }
            w.Write("]"u8);
        }
        w.Write("]"u8);
    }

    /// `[0,pubkey,created_at,kind,tags,content]`: the bytes whose SHA-256 is the event id.
    public static void WriteIdPreimage(IBufferWriter<byte> w, string pubkey, long createdAt, int kind, string[][] tags, ReadOnlySpan<byte> contentUtf8)
    {
        w.Write("[0,\""u8);
        WriteAscii(w, pubkey);
        w.Write("\","u8);
        WriteInt64(w, createdAt);
        w.Write(","u8);
        WriteInt64(w, kind);
        w.Write(","u8);
        WriteTags(w, tags);
        w.Write(","u8);
        WriteUtf8String(w, contentUtf8);
        w.Write("]"u8);
    }

    public static void WriteAscii(IBufferWriter<byte> w, string ascii)
    {
        var dst = w.GetSpan(ascii.Length);
        for (var i = 0; i < ascii.Length; i++) dst[i] = (byte)ascii[i];
        w.Advance(ascii.Length);
    }
}
