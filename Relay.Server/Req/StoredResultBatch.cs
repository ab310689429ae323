using System.Buffers;
using Relay.Server.Protocol;
using Relay.Server.Transport;
using Relay.Server.WebSockets;

namespace Relay.Server.Req;

/// A REQ's stored results framed back to back in one pooled buffer and queued as one piece: an
/// answer of 50 events costs one hand-over to the send loop, one wake-up and one send instead of
/// fifty (profiles of the query load showed the relay's time going to those wake-ups).
internal sealed class StoredResultBatch(ClientConnection conn, byte[] subIdJson) : IDisposable
{
    /// What one flush hands over: big enough for a typical answer, small enough that a large one
    /// is paced by the reader (the caller waits for send space between flushes).
    public const int FlushBytes = 64 * 1024;

    private byte[]? _buffer;
    private int _length;

    /// True if the event's frame fits without going past <see cref="FlushBytes"/> (an event too
    /// big to fit any batch still fits an empty one).
    public bool HasRoomFor(int rawLength) =>
        _length == 0 || _length + Replies.EventFrameLength(subIdJson, rawLength) <= FlushBytes;

    public void AddEvent(ReadOnlySpan<byte> raw)
    {
        var span = Reserve(Replies.EventFrameLength(subIdJson, raw.Length));
        _length += Replies.WriteEvent(span, subIdJson, raw);
    }

    public void AddEose()
    {
        var span = Reserve(Replies.EoseFrameLength(subIdJson));
        _length += Replies.WriteEose(span, subIdJson);
    }

    /// Queues what is framed; the queue owns (and later returns) the buffer.
    public void Flush()
    {
        if (_buffer is null) return;
        conn.Send(OutboundFrame.FromPool(_buffer, _length));
        _buffer = null;
        _length = 0;
    }

    /// Returns the buffer of a batch that was abandoned (cancelled query) without queuing it.
    public void Dispose()
    {
        if (_buffer is not null) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _length = 0;
    }

    private Span<byte> Reserve(int bytes)
    {
        if (_buffer is null) _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(FlushBytes, bytes));
        else if (_length + bytes > _buffer.Length)
        {
            // Only EOSE can get here (events check HasRoomFor first): grow once.
            var bigger = ArrayPool<byte>.Shared.Rent(_length + bytes);
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        return _buffer.AsSpan(_length, bytes);
    }
}
