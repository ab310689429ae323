using System.Buffers;
using Relay.Server.Protocol;
using Relay.Server.Transport;
using Relay.Server.WebSockets;

namespace Relay.Server.Req;

/// A REQ's stored results framed back to back in pooled buffers of up to 64 KiB, each queued as
/// one piece: an answer of 50 events costs one hand-over to the send loop, one wake-up and one
/// send instead of fifty. A full buffer is sealed; sealed buffers go to the connection while it
/// has room and are otherwise held here, so the query that produced them can finish and give
/// back its slot without waiting for a client that is not reading.
internal sealed class StoredResultBatch(ClientConnection conn, byte[] subIdJson, HeldAnswers budget) : IDisposable
{
    /// What one flush hands over: big enough for a typical answer, small enough that a large one
    /// is paced by the reader.
    public const int FlushBytes = 64 * 1024;

    private byte[]? _buffer;
    private int _length;
    private Queue<(byte[] Buffer, int Length)>? _sealed;

    /// Sealed buffers not yet handed to the connection.
    public bool HasHeld => _sealed is { Count: > 0 };

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

    /// Closes the current buffer (the next event starts a new one): queued on the connection at
    /// once when <paramref name="sendNow"/> and nothing older is held, otherwise held within the
    /// shared budget. False when the budget has no room: the caller gives up on this reader.
    public bool Seal(bool sendNow)
    {
        if (_buffer is null) return true;
        if (sendNow && !HasHeld) conn.Send(OutboundFrame.FromPool(_buffer, _length));
        else if (budget.TryHold(_length)) (_sealed ??= new Queue<(byte[], int)>()).Enqueue((_buffer, _length));
        else return false;   // the buffer stays ours: Dispose returns it
        _buffer = null;
        _length = 0;
        return true;
    }

    /// Queues the oldest held buffer; the connection's queue owns (and later returns) it.
    public void SendOne()
    {
        if (_sealed is null || !_sealed.TryDequeue(out var b)) return;
        budget.Release(b.Length);
        conn.Send(OutboundFrame.FromPool(b.Buffer, b.Length));
    }

    /// Returns every buffer not handed over (a cancelled query, a closed connection).
    public void Dispose()
    {
        if (_buffer is not null) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _length = 0;
        while (_sealed is not null && _sealed.TryDequeue(out var b))
        {
            budget.Release(b.Length);
            ArrayPool<byte>.Shared.Return(b.Buffer);
        }
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
