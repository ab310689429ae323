using Npgsql;

namespace Relay.Server.Observability;

/// Whether PostgreSQL answers, as the writers and queries find it. The first failure of an
/// outage is logged, the rest only counted (a down database fails every batch and every REQ:
/// thousands of identical lines would bury the one that matters), and the first success after
/// it says how many failed meanwhile. A failure that is not the database's (our bug) always logs.
internal sealed class DatabaseHealth(RelayLog log, RelayMetrics metrics)
{
    public RelayMetrics Metrics => metrics;

    private int _down;
    private long _failed;

    public void Failed(Exception e, string what)
    {
        metrics.DatabaseErrors.Increment();
        if (!IsDatabaseFault(e))
        {
            log.DatabaseOperationFailed(e, what);
            return;
        }
        Interlocked.Increment(ref _failed);
        if (Interlocked.Exchange(ref _down, 1) == 0) log.DatabaseUnreachable(what, (e.InnerException ?? e).Message);
    }

    /// Called after each batch written and each query answered: one volatile read while healthy.
    public void Succeeded()
    {
        if (Volatile.Read(ref _down) == 0) return;
        if (Interlocked.Exchange(ref _down, 0) == 1) log.DatabaseRestored(Interlocked.Exchange(ref _failed, 0));
    }

    private static bool IsDatabaseFault(Exception e) =>
        e is NpgsqlException or TimeoutException || e.InnerException is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException;
}
