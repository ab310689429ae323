namespace Relay.Server.WebSockets;

/// A server frame queued for sending, in up to three parts so that one event body can be shared
/// by every subscriber's frame: [header + `["EVENT",<subid>,`] [stored JSON] [`]`].
internal readonly struct OutboundFrame(byte[] first, byte[]? middle = null, byte[]? last = null)
{
    public byte[] First { get; } = first;
    public byte[]? Middle { get; } = middle;
    public byte[]? Last { get; } = last;

    public int Length => First.Length + (Middle?.Length ?? 0) + (Last?.Length ?? 0);
    public bool IsClose => (First[0] & 0x0F) == (byte)WebSocketOpcode.Close;

    public void AddTo(List<ArraySegment<byte>> segments)
    {
        segments.Add(First);
        if (Middle is not null) segments.Add(Middle);
        if (Last is not null) segments.Add(Last);
    }
}
