namespace Relay.Server.Req;

/// The MAX_CONCURRENT_QUERIES slots stored queries run in, first come first served, with one
/// reservation: a heavy query (asking for more than one filter's worth of events in all) may take
/// every slot but one, so a burst of heavy REQs (20 filters of 500, from clients that may never
/// read the answer) can't make a client asking for one event wait behind all of them. strfry
/// gets the same effect by time-slicing its queries; a PostgreSQL query can't be paused, so the
/// slot is what is shared out.
internal sealed class QuerySlots(int slots)
{
    private readonly object _gate = new();
    private readonly LinkedList<(TaskCompletionSource Waiter, bool Heavy)> _waiting = new();
    private int _inUse, _heavyInUse, _cheapWaiting;

    /// The most heavy queries that run at once.
    private int HeavyLimit => Math.Max(1, slots - 1);

    public async ValueTask<Lease> EnterAsync(bool heavy, CancellationToken ct)
    {
        TaskCompletionSource waiter;
        LinkedListNode<(TaskCompletionSource, bool)> node;
        lock (_gate)
        {
            // First come first served, except that a cheap query may pass heavy ones that are
            // waiting only because the heavy share is taken.
            if (CanStart(heavy) && (heavy ? _waiting.Count == 0 : _cheapWaiting == 0)) return Start(heavy);
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiting.AddLast((waiter, heavy));
            if (!heavy) _cheapWaiting++;
        }
        try
        {
            await waiter.Task.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            lock (_gate)
            {
                if (node.List is not null)
                {
                    _waiting.Remove(node);
                    if (!heavy) _cheapWaiting--;
                    throw;
                }
            }
            // Granted while being cancelled: give the slot straight back.
            Leave(heavy);
            throw;
        }
        return new Lease(this, heavy);
    }

    private bool CanStart(bool heavy) => _inUse < slots && (!heavy || _heavyInUse < HeavyLimit);

    private Lease Start(bool heavy)
    {
        _inUse++;
        if (heavy) _heavyInUse++;
        return new Lease(this, heavy);
    }

    private void Leave(bool heavy)
    {
        var granted = new List<TaskCompletionSource>(1);
        lock (_gate)
        {
            _inUse--;
            if (heavy) _heavyInUse--;
            // Wake waiters in order; a heavy one that can't start yet lets cheap ones behind it go.
            for (var n = _waiting.First; n is not null && _inUse < slots;)
            {
                var next = n.Next;
                if (CanStart(n.Value.Heavy))
                {
                    _inUse++;
                    if (n.Value.Heavy) _heavyInUse++;
                    _waiting.Remove(n);
                    if (!n.Value.Heavy) _cheapWaiting--;
                    granted.Add(n.Value.Waiter);
                }
                n = next;
            }
        }
        foreach (var w in granted) w.TrySetResult();
    }

    /// One slot, given back by Dispose.
    public readonly struct Lease(QuerySlots owner, bool heavy) : IDisposable
    {
        public void Dispose() => owner.Leave(heavy);
    }
}
