using System.Buffers;
using Relay.Server.WebSockets;
using Relay.Storage.Model;

namespace Relay.Server.Protocol;

/// Builds relay→client messages as complete WebSocket text frames, ready to send.
internal static class Replies
{
    private static readonly byte[] CloseBracket = [(byte)']'];

    /// `["EVENT",<subid>,<raw>]` in a rented array that the connection's queue returns after
    /// sending: stored query results cost no allocation per event.
    public static OutboundFrame PooledEvent(byte[] subIdJson, ReadOnlySpan<byte> raw)
    {
        var payload = "[\"EVENT\","u8.Length + subIdJson.Length + 1 + raw.Length + 1;
        var length = FrameWriter.HeaderLength(payload) + payload;
        var frame = ArrayPool<byte>.Shared.Rent(length);
        WriteEvent(frame, payload, subIdJson, raw);
        return OutboundFrame.FromPool(frame, length);
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

    public static byte[] Eose(byte[] subIdJson) => Build(w =>
    {
        w.Write("[\"EOSE\","u8); w.Write(subIdJson); w.Write("]"u8);
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
