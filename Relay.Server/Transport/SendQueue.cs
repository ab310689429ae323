using System.Threading.Tasks.Sources;
using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

/// A connection's outbound frames: many writers (fan-out, query tasks, the receive loop), one
/// reader (the send loop). Lighter than an unbounded Channel for the common case of an idle
/// subscriber: the queue array is created on first use. The reader's wait is this object itself
/// (a reusable value-task source), so waking an idle send loop for each live event allocates
/// nothing; a SemaphoreSlim allocated a task per wait.
internal sealed class SendQueue : IValueTaskSource<bool>
{
    private readonly object _gate = new();
    private Queue<OutboundFrame>? _items;
    private bool _completed;
    private bool _readerWaiting;
    // Continuations run on the thread pool: a writer (the fan-out loop) must never end up
    // running a send loop inline.
    private ManualResetValueTaskSourceCore<bool> _wait = new() { RunContinuationsAsynchronously = true };

    /// False once <see cref="Complete"/> was called; the caller still owns the frame then.
    public bool TryWrite(OutboundFrame frame)
    {
        bool wake;
        lock (_gate)
        {
            if (_completed) return false;
            _items ??= new Queue<OutboundFrame>(4);
            _items.Enqueue(frame);
            wake = _readerWaiting;
            _readerWaiting = false;
        }
        if (wake) _wait.SetResult(true);
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

    /// True when a frame may be ready (the caller's TryRead says); false once completed and
    /// drained. One reader only: it awaits each result before asking again.
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_gate)
        {
            if (_items is { Count: > 0 }) return new(true);
            if (_completed) return new(false);
            _wait.Reset();
            _readerWaiting = true;
        }
        return new(this, _wait.Version);
    }

    /// No more writes; the reader drains what is queued, then sees false.
    public void Complete()
    {
        bool wake;
        lock (_gate)
        {
            if (_completed) return;
            _completed = true;
            wake = _readerWaiting;
            _readerWaiting = false;
        }
        if (wake) _wait.SetResult(true);   // the reader looks again and finds the queue completed
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
