using Npgsql;

namespace Relay.Server.Observability;

/// Whether PostgreSQL does one kind of work (writes, or queries: a read-only database fails
/// one and not the other), as the writers and queries find it. The first failure of an outage
/// is logged, the rest only counted (a down database fails every batch and every REQ: thousands
/// of identical lines would bury the one that matters), and the first success after it says how
/// many failed meanwhile. A failure that is not an outage (a SQL error: our bug) always logs.
internal sealed class DatabaseHealth(RelayLog log, RelayMetrics metrics, string work)
{
    private readonly Lock _transition = new();
    private volatile bool _down;
    private long _failed;

    public void Failed(Exception e, string what)
    {
        metrics.DatabaseErrors.Increment();
        if (!IsOutage(e))
        {
            log.DatabaseOperationFailed(e, what);
            return;
        }
        lock (_transition)
        {
            _failed++;
            if (_down) return;
            _down = true;
        }
        log.DatabaseUnreachable(work, what, (e.InnerException ?? e).Message);
    }

    /// Called after each batch written and each query answered: one volatile read while healthy.
    public void Succeeded()
    {
        if (!_down) return;
        long failed;
        lock (_transition)
        {
            if (!_down) return;
            _down = false;
            failed = _failed;
            _failed = 0;
        }
        log.DatabaseRestored(work, failed);
    }

    /// The database unreachable, restarting, read-only, out of space or connections: not a
    /// statement of ours that it refused.
    public static bool IsOutage(Exception e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal)   // connection exceptions
            || p.SqlState.StartsWith("53", StringComparison.Ordinal)                   // insufficient resources (disk full, too many connections)
            || p.SqlState.StartsWith("57P", StringComparison.Ordinal)                  // shut down, crash shutdown, cannot connect now
            || p.SqlState.StartsWith("58", StringComparison.Ordinal)                   // system errors (I/O)
            || p.SqlState == "25006",                                                   // read-only transaction
        NpgsqlException or TimeoutException => true,                                   // refused, reset, timed out
        _ => e.InnerException is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException,
    };
}
