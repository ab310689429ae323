using System.Buffers;
using Relay.Server.WebSockets;
using Relay.Storage.Model;

namespace Relay.Server.Protocol;

/// Builds relay→client messages as complete WebSocket text frames, ready to send.
internal static class Replies
{
    /// Bytes of the frame <see cref="WriteEvent(Span{byte}, byte[], ReadOnlySpan{byte})"/> writes.
    public static int EventFrameLength(byte[] subIdJson, int rawLength)
    {
        var payload = EventPayloadLength(subIdJson, rawLength);
        return FrameWriter.HeaderLength(payload) + payload;
    }

    /// Writes the `["EVENT",<subid>,<raw>]` frame into <paramref name="frame"/>, which holds
    /// at least <see cref="EventFrameLength"/> bytes' room; returns the bytes written.
    public static int WriteEvent(Span<byte> frame, byte[] subIdJson, ReadOnlySpan<byte> raw)
    {
        var n = WriteEventHead(frame, subIdJson, raw.Length);
        raw.CopyTo(frame[n..]);
        n += raw.Length;
        frame[n] = (byte)']';
        return n + 1;
    }

    /// Writes the frame header and `["EVENT",<subid>,` of an EVENT frame whose stored JSON is
    /// <paramref name="rawLength"/> bytes; the caller sends the JSON and `]` after it. Returns the
    /// bytes written.
    public static int WriteEventHead(Span<byte> frame, byte[] subIdJson, int rawLength)
    {
        var n = FrameWriter.WriteHeader(frame, WebSocketOpcode.Text, EventPayloadLength(subIdJson, rawLength));
        "[\"EVENT\","u8.CopyTo(frame[n..]); n += "[\"EVENT\","u8.Length;
        subIdJson.CopyTo(frame[n..]); n += subIdJson.Length;
        frame[n] = (byte)',';
        return n + 1;
    }

    private static int EventPayloadLength(byte[] subIdJson, int rawLength) =>
        "[\"EVENT\","u8.Length + subIdJson.Length + 1 + rawLength + 1;

    /// Bytes of the frame <see cref="WriteEose"/> writes.
    public static int EoseFrameLength(byte[] subIdJson)
    {
        var payload = "[\"EOSE\",]"u8.Length + subIdJson.Length;
        return FrameWriter.HeaderLength(payload) + payload;
    }

    /// Writes the `["EOSE",<subid>]` frame; returns the bytes written.
    public static int WriteEose(Span<byte> frame, byte[] subIdJson)
    {
        var payload = "[\"EOSE\",]"u8.Length + subIdJson.Length;
        var span = frame[FrameWriter.WriteHeader(frame, WebSocketOpcode.Text, payload)..];
        "[\"EOSE\","u8.CopyTo(span); span = span["[\"EOSE\","u8.Length..];
        subIdJson.CopyTo(span); span[subIdJson.Length] = (byte)']';
        return FrameWriter.HeaderLength(payload) + payload;
    }

    public static byte[] Ok(string eventId, bool accepted, string message) => Build(w =>
    {
        w.Write("[\"OK\",\""u8);
        CanonicalJson.WriteAscii(w, eventId);
        w.Write(accepted ? "\",true,"u8 : "\",false,"u8);
        CanonicalJson.WriteString(w, message);
        w.Write("]"u8);
    });

    public static byte[] Closed(byte[] subIdJson, string message) => Build(w =>
    {
        w.Write("[\"CLOSED\","u8); w.Write(subIdJson); w.Write(","u8);
        CanonicalJson.WriteString(w, message); w.Write("]"u8);
    });

    public static byte[] Count(byte[] subIdJson, long count) => Build(w =>
    {
        w.Write("[\"COUNT\","u8); w.Write(subIdJson); w.Write(",{\"count\":"u8);
        CanonicalJson.WriteInt64(w, count); w.Write("}]"u8);
    });

    /// NIP-42 `["AUTH", challenge]`, sent once on connect.
    public static byte[] Auth(string challenge) => Build(w =>
    {
        w.Write("[\"AUTH\","u8); CanonicalJson.WriteString(w, challenge); w.Write("]"u8);
    });

    public static byte[] Notice(string message) => Build(w =>
    {
        w.Write("[\"NOTICE\","u8); CanonicalJson.WriteString(w, message); w.Write("]"u8);
    });

    /// A subscription id as a JSON string literal, encoded once per subscription.
    public static byte[] SubIdJson(string subId)
    {
        var w = new ArrayBufferWriter<byte>(subId.Length + 2);
        CanonicalJson.WriteString(w, subId);
        return w.WrittenSpan.ToArray();
    }

    // Replies are built synchronously, so one scratch writer per thread serves them all and the
    // finished frame is the only allocation (OK is sent once per EVENT).
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_scratch;

    private static byte[] Build(Action<ArrayBufferWriter<byte>> write)
    {
        var w = t_scratch ??= new ArrayBufferWriter<byte>(256);
        w.ResetWrittenCount();
        write(w);
        return FrameWriter.Frame(WebSocketOpcode.Text, w.WrittenSpan);
    }
}
