using System.Buffers;

namespace Relay.Server.WebSockets;

/// A server frame queued for sending, in up to three parts so that one event body can be shared
/// by every subscriber's frame: [header + `["EVENT",<subid>,`] [stored JSON] [`]`].
/// A frame built in a rented array (<see cref="Pooled"/>) is owned by the queue: the send loop
/// returns the array to the pool once it is on the socket, or when the frame is dropped.
internal readonly struct OutboundFrame
{
    public OutboundFrame(byte[] first, byte[]? middle = null, byte[]? last = null)
    {
        First = first;
        FirstLength = first.Length;
        Middle = middle;
        Last = last;
    }

    private OutboundFrame(byte[] rented, int length)
    {
        First = rented;
        FirstLength = length;
        Pooled = true;
    }

    /// Takes ownership of an ArrayPool array holding one or more complete frames in its first
    /// <paramref name="length"/> bytes.
    public static OutboundFrame FromPool(byte[] rented, int length) => new(rented, length);

    public byte[] First { get; }
    public int FirstLength { get; }
    public byte[]? Middle { get; }
    public byte[]? Last { get; }
    public bool Pooled { get; }

    public int Length => FirstLength + (Middle?.Length ?? 0) + (Last?.Length ?? 0);
    public bool IsClose => (First[0] & 0x0F) == (byte)WebSocketOpcode.Close;

    public void AddTo(List<ArraySegment<byte>> segments)
    {
        segments.Add(new ArraySegment<byte>(First, 0, FirstLength));
        if (Middle is not null) segments.Add(Middle);
        if (Last is not null) segments.Add(Last);
    }

    /// Gives a rented array back; call once the bytes are sent or the frame is dropped.
    public void Release()
    {
        if (Pooled) ArrayPool<byte>.Shared.Return(First);
    }
}
