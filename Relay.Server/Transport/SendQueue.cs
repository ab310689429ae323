using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

/// A connection's outbound frames: many writers (fan-out, query tasks, the receive loop), one
/// reader (the send loop). Lighter than an unbounded Channel for the common case of an idle
/// subscriber: the queue array is created on first use and the only other state is a semaphore.
internal sealed class SendQueue
{
    private readonly object _gate = new();
    private readonly SemaphoreSlim _signal = new(0);
    private Queue<OutboundFrame>? _items;
    private bool _completed;

    /// False once <see cref="Complete"/> was called; the caller still owns the frame then.
    public bool TryWrite(OutboundFrame frame)
    {
        bool wake;
        lock (_gate)
        {
            if (_completed) return false;
            _items ??= new Queue<OutboundFrame>(4);
            wake = _items.Count == 0;   // the reader only sleeps on an empty queue
            _items.Enqueue(frame);
        }
        if (wake) _signal.Release();
        return true;
    }

    public bool TryRead(out OutboundFrame frame)
    {
        lock (_gate)
        {
            if (_items is { Count: > 0 } items)
            {
                frame = items.Dequeue();
                return true;
            }
        }
        frame = default;
        return false;
    }

    /// True when a frame is ready; false once completed and drained.
    public async ValueTask<bool> WaitToReadAsync()
    {
        while (true)
        {
            lock (_gate)
            {
                if (_items is { Count: > 0 }) return true;
                if (_completed) return false;
            }
            await _signal.WaitAsync().ConfigureAwait(false);
        }
    }

    /// No more writes; the reader drains what is queued, then sees false.
    public void Complete()
    {
        lock (_gate)
        {
            if (_completed) return;
            _completed = true;
        }
        _signal.Release();
    }
}
