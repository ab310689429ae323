using System.Buffers;
using Relay.Server.WebSockets;
using Relay.Storage.Model;

namespace Relay.Server.Protocol;

/// Builds relay→client messages as complete WebSocket text frames, ready to send.
internal static class Replies
{
    private static readonly byte[] CloseBracket = [(byte)']'];

    /// Bytes of the frame <see cref="WriteEvent(Span{byte}, byte[], ReadOnlySpan{byte})"/> writes.
    public static int EventFrameLength(byte[] subIdJson, int rawLength)
    {
        var payload = "[\"EVENT\","u8.Length + subIdJson.Length + 1 + rawLength + 1;
        return FrameWriter.HeaderLength(payload) + payload;
    }

    /// Writes the `["EVENT",<subid>,<raw>]` frame into <paramref name="frame"/>, which holds
    /// exactly <see cref="EventFrameLength"/> bytes' room; returns the bytes written.
    public static int WriteEvent(Span<byte> frame, byte[] subIdJson, ReadOnlySpan<byte> raw)
    {
        var payload = "[\"EVENT\","u8.Length + subIdJson.Length + 1 + raw.Length + 1;
        WriteEvent(frame, payload, subIdJson, raw);
        return FrameWriter.HeaderLength(payload) + payload;
    }

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

    private static void WriteEvent(Span<byte> frame, int payload, byte[] subIdJson, ReadOnlySpan<byte> raw)
    {
        var span = frame[FrameWriter.WriteHeader(frame, WebSocketOpcode.Text, payload)..];
        "[\"EVENT\","u8.CopyTo(span); span = span["[\"EVENT\","u8.Length..];
        subIdJson.CopyTo(span); span = span[subIdJson.Length..];
        span[0] = (byte)','; span = span[1..];
        raw.CopyTo(span); span = span[raw.Length..];
        span[0] = (byte)']';
    }

    /// The same message as <see cref="Event"/>, but sharing <paramref name="raw"/> instead of
    /// copying it: fan-out to many subscribers allocates only each one's small head.
    public static OutboundFrame SharedEvent(byte[] subIdJson, byte[] raw)
    {
        var payload = "[\"EVENT\","u8.Length + subIdJson.Length + 1 + raw.Length + 1;
        var header = FrameWriter.HeaderLength(payload);
        var head = new byte[header + "[\"EVENT\","u8.Length + subIdJson.Length + 1];
        var span = head.AsSpan(FrameWriter.WriteHeader(head, WebSocketOpcode.Text, payload));
        "[\"EVENT\","u8.CopyTo(span); span = span["[\"EVENT\","u8.Length..];
        subIdJson.CopyTo(span); span = span[subIdJson.Length..];
        span[0] = (byte)',';
        return new OutboundFrame(head, raw, CloseBracket);
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
