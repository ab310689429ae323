using System.Diagnostics;
using System.Diagnostics.Metrics;
using Npgsql;
using Relay.Server.Observability;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Req;

/// Where REQ and COUNT queries run: the read replicas (DATABASE_READ_URL) in turn, else the
/// primary. A replica answers only if its snapshot has every commit the caller needs (the
/// client's own writes; for a REQ also what live delivery already passed by, see
/// SubscriptionIndex.TryCatchUp); otherwise, or if it fails before its answer begins, the
/// primary answers. A replica that cannot be reached is skipped for a while (1 s, doubling to
/// 30 s; one query at a time retries it), said once in the log; with none up, the primary answers.
internal sealed class ReadDatabases : IAsyncDisposable
{
    private readonly NpgsqlDataSource _primary;
    private readonly Replica[] _replicas;
    private readonly RelayMetrics _metrics;
    private readonly RelayLog _log;
    private int _next;

    // Queries answered by the primary and by a replica, and replica answers refused as behind.
    private long _onPrimary, _onReplica, _behind;

    public ReadDatabases(NpgsqlDataSource primary, IReadOnlyList<(NpgsqlDataSource Db, string Name)> replicas, RelayMetrics metrics, RelayLog log)
    {
        _primary = primary;
        _replicas = replicas.Select(r => new Replica(r.Db, r.Name)).ToArray();
        _metrics = metrics;
        _log = log;
        metrics.Meter.CreateObservableCounter("relay.queries", () => new Measurement<long>[]
        {
            new(Interlocked.Read(ref _onPrimary), new KeyValuePair<string, object?>("database", "primary")),
            new(Interlocked.Read(ref _onReplica), new KeyValuePair<string, object?>("database", "replica")),
        }, null, "REQ and COUNT queries, by the database that answered");
        metrics.Meter.CreateObservableCounter("relay.queries.replica_behind", () => Interlocked.Read(ref _behind), null,
            "Replica answers refused because the replica had not replayed what the client needs (the primary answered)");
        metrics.AddGauge("relay.read_replicas.up", "Read replicas taking queries", () => _replicas.Count(r => r.IsUp));
    }

    public bool HasReplicas => _replicas.Length > 0;

    /// A REQ's stored query: <paramref name="accept"/> says whether a replica's commit position will do.
    /// Once it accepts a replica's position, that replica's answer is being sent: no other database
    /// is asked, whatever happens next.
    public Task<StoredAnswer> QueryAsync(IReadOnlyList<NostrFilter> filters, int maxLimit, long now, RawEventHandler onEvent,
        Func<long, bool> accept, CancellationToken ct)
    {
        var committed = false;
        return RunAsync(
            (db, onReplica) => EventQuery.RunAsync(db, filters, maxLimit, now, onEvent, ct, onReplica ? p => committed = accept(p) : null),
            answer => answer.Stale, () => committed, ct);
    }

    public async Task<long> CountAsync(IReadOnlyList<NostrFilter> filters, long now, int[]? hiddenKinds, long atLeast, CancellationToken ct) =>
        (await RunAsync((db, onReplica) => EventQuery.CountAsync(db, filters, now, ct, hiddenKinds, onReplica ? p => p >= atLeast : null),
            count => count is null, () => false, ct))!.Value;

    private async Task<T> RunAsync<T>(Func<NpgsqlDataSource, bool, Task<T>> run, Func<T, bool> stale, Func<bool> committed, CancellationToken ct)
    {
        for (var tried = 0; tried < _replicas.Length; tried++)
        {
            var replica = _replicas[(int)((uint)Interlocked.Increment(ref _next) % (uint)_replicas.Length)];
            if (!replica.TryTake()) continue;
            try
            {
                var answer = await run(replica.Db, true);
                replica.Succeeded(_log);
                if (!stale(answer))
                {
                    Interlocked.Increment(ref _onReplica);
                    return answer;
                }
                Interlocked.Increment(ref _behind);
                break;   // behind: the primary has it all
            }
            catch (Exception e) when (!ct.IsCancellationRequested && !committed() && (DatabaseHealth.IsOutage(e) || e is PostgresException))
            {
                // Nothing was sent yet, so the primary can answer instead: the replica down, a
                // query cancelled by a conflict with replay (40001, 40P01), a replica that has not
                // replayed a migration yet. Only an outage takes the replica out for a while.
                _metrics.DatabaseErrors.Increment();
                if (DatabaseHealth.IsOutage(e)) replica.Failed(e, _log);
                else replica.Succeeded(_log);
            }
        }
        Interlocked.Increment(ref _onPrimary);
        return await run(_primary, false);
    }

    private sealed class Replica(NpgsqlDataSource db, string name)
    {
        private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1), LastRetry = TimeSpan.FromSeconds(30);
        private readonly Lock _gate = new();
        private long _retryAt;          // Stopwatch timestamp; 0 while up
        private bool _down;
        private TimeSpan _wait = FirstRetry;

        public NpgsqlDataSource Db => db;

        public bool IsUp => Volatile.Read(ref _retryAt) == 0;

        /// Whether this query may use the replica: it is up, or it is down and due for a retry,
        /// which this query alone takes (the retry time moves on, so the others keep skipping it:
        /// a replica that drops packets costs one connect timeout per retry, not one per REQ).
        public bool TryTake()
        {
            var at = Volatile.Read(ref _retryAt);
            if (at == 0) return true;
            var now = Stopwatch.GetTimestamp();
            return now >= at && Interlocked.CompareExchange(ref _retryAt, now + (long)(LastRetry.TotalSeconds * Stopwatch.Frequency), at) == at;
        }

        public void Failed(Exception e, RelayLog log)
        {
            int seconds;
            bool first;
            lock (_gate)
            {
                first = !_down;
                _down = true;
                seconds = (int)_wait.TotalSeconds;
                Volatile.Write(ref _retryAt, Stopwatch.GetTimestamp() + (long)(_wait.TotalSeconds * Stopwatch.Frequency));
                _wait = TimeSpan.FromTicks(Math.Min(_wait.Ticks * 2, LastRetry.Ticks));
            }
            if (first) log.ReplicaDown(name, (e.InnerException ?? e).Message, seconds);
        }

        public void Succeeded(RelayLog log)
        {
            if (Volatile.Read(ref _retryAt) == 0) return;
            lock (_gate)
            {
                if (!_down) return;
                _down = false;
                Volatile.Write(ref _retryAt, 0);
                _wait = FirstRetry;
            }
            log.ReplicaRestored(name);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var r in _replicas) await r.Db.DisposeAsync();
    }
}
