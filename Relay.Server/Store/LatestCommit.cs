namespace Relay.Server.Store;

/// The highest commit position this process's writers have reached. A client answered OK true
/// reads from a replica only once it has replayed this far (read your own writes): the event
/// is at or below it, whether this client's batch stored it or an earlier one (a duplicate).
internal sealed class LatestCommit
{
    private long _value;

    public long Value => Volatile.Read(ref _value);

    public void Advance(long position) => Raise(ref _value, position);

    /// Sets <paramref name="field"/> to <paramref name="value"/> if that is higher, from any thread.
    public static void Raise(ref long field, long value)
    {
        var seen = Volatile.Read(ref field);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref field, value, seen);
            if (was == seen) return;
            seen = was;
        }
    }
}
