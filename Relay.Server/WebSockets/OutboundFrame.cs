using System.Buffers;
using Relay.Server.Protocol;

namespace Relay.Server.WebSockets;

/// A server frame queued for sending, in one of three forms:
/// - complete frame bytes in an array (replies, close frames);
/// - one or more complete frames in a rented array (<see cref="FromPool"/>: a REQ's stored
///   results), which the send loop returns to the pool once sent or dropped;
/// - a live event (<see cref="LiveEvent"/>): the subscription id and the stored JSON, both shared,
///   so fan-out to many subscribers copies and allocates nothing per delivery; the frame header and
///   `["EVENT",<subid>,` are written only when the send loop builds its send.
internal readonly struct OutboundFrame
{
    private static readonly byte[] CloseBracket = [(byte)']'];

    private readonly byte[] _bytes;     // the frame bytes, or the subscription id JSON of a live event
    private readonly byte[]? _raw;      // a live event's stored JSON
    private readonly int _length;       // bytes of _bytes that are the frame(s)
    private readonly bool _pooled;

    public OutboundFrame(byte[] frame) : this(frame, null, frame.Length, pooled: false) { }

    private OutboundFrame(byte[] bytes, byte[]? raw, int length, bool pooled)
    {
        _bytes = bytes;
        _raw = raw;
        _length = length;
        _pooled = pooled;
    }

    /// Takes ownership of an ArrayPool array holding one or more complete frames in its first
    /// <paramref name="length"/> bytes.
    public static OutboundFrame FromPool(byte[] rented, int length) => new(rented, null, length, pooled: true);

    /// `["EVENT",<subid>,<raw>]` for one subscriber, from parts shared with every other one.
    public static OutboundFrame LiveEvent(byte[] subIdJson, byte[] raw) =>
        new(subIdJson, raw, Replies.EventFrameLength(subIdJson, raw.Length), pooled: false);

    /// Bytes on the wire.
    public int Length => _length;

    public bool IsClose => _raw is null && (_bytes[0] & 0x0F) == (byte)WebSocketOpcode.Close;

    /// Bytes of scratch space <see cref="AddTo"/> needs for this frame's head (live events only).
    public int HeadLength => _raw is null ? 0 : _length - _raw.Length - 1;

    /// The frame as one piece of memory, when it is one (not a live event).
    public bool TryGetBytes(out ReadOnlyMemory<byte> bytes)
    {
        bytes = _raw is null ? _bytes.AsMemory(0, _length) : default;
        return _raw is null;
    }

    /// Writes the whole frame into <paramref name="destination"/>; returns <see cref="Length"/>.
    public int CopyTo(Span<byte> destination)
    {
        if (_raw is null)
        {
            _bytes.AsSpan(0, _length).CopyTo(destination);
            return _length;
        }
        return Replies.WriteEvent(destination, _bytes, _raw);
    }

    /// Adds the frame as segments for a scatter-gather send; a live event's head is written into
    /// <paramref name="scratch"/> at <paramref name="used"/>, which then moves past it.
    public void AddTo(List<ArraySegment<byte>> segments, byte[] scratch, ref int used)
    {
        if (_raw is null)
        {
            segments.Add(new ArraySegment<byte>(_bytes, 0, _length));
            return;
        }
        var head = Replies.WriteEventHead(scratch.AsSpan(used), _bytes, _raw.Length);
        segments.Add(new ArraySegment<byte>(scratch, used, head));
        used += head;
        segments.Add(_raw);
        segments.Add(CloseBracket);
    }

    /// Gives a rented array back; call once the bytes are sent or the frame is dropped.
    public void Release()
    {
        if (_pooled) ArrayPool<byte>.Shared.Return(_bytes);
    }
}
