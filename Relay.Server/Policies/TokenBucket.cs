namespace Relay.Server.Policies;

/// A token bucket: refills at <c>rate</c> tokens a second up to <c>capacity</c>; each message
/// takes one. Shared by every connection of one address (or one pubkey), hence the lock.
internal sealed class TokenBucket(double rate, double capacity)
{
    private readonly double _capacity = capacity;
    private double _tokens = capacity;
    private long _updatedAt = Environment.TickCount64;

    public bool TryTake(long now)
    {
        lock (this)
        {
            _tokens = Math.Min(_capacity, _tokens + (now - _updatedAt) * rate / 1000.0);
            _updatedAt = now;
            if (_tokens < 1) return false;
            _tokens -= 1;
            return true;
        }
    }

    /// Full and untouched for a while: forgetting it changes nothing for its client.
    public bool IsIdle(long now) { lock (this) return now - _updatedAt > 60_000 && _tokens + (now - _updatedAt) * rate / 1000.0 >= _capacity; }
}
