namespace Relay.Server.Ingest;

/// A bounded set of recently stored event ids (FIFO eviction), so a re-broadcast event is
/// answered "duplicate" without verifying its signature or touching the database.
internal sealed class RecentIds(int capacity)
{
    private readonly object _gate = new();
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public bool Contains(string id)
    {
        lock (_gate) return _set.Contains(id);
    }

    public void Add(string id)
    {
        lock (_gate)
        {
            if (!_set.Add(id)) return;
            _order.Enqueue(id);
            if (_order.Count > capacity) _set.Remove(_order.Dequeue());
        }
    }
}
