using Npgsql;
using Relay.Server.Observability;

namespace Relay.Server.Store;

/// NIP-40: expired events stop being served at once (queries skip them), and this loop deletes
/// them in the background, a bounded batch at a time so a backlog never makes one long statement.
internal sealed class ExpiredEventPurger(NpgsqlDataSource db, RelayLog log, TimeSpan every) : IAsyncDisposable
{
    private const int BatchSize = 5000;
    private const string Purge = """
        WITH gone AS (
            DELETE FROM events WHERE id IN (
                SELECT id FROM events WHERE expiration IS NOT NULL AND expiration <= $1 LIMIT $2)
            RETURNING id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT count(*) FROM gone
        """;

    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start() => _loop = Task.Run(RunAsync);

    /// Deletes what has expired by now; returns how many events went.
    public async Task<long> PurgeOnceAsync(CancellationToken ct = default)
    {
        long total = 0;
        while (true)
        {
            await using var cmd = db.CreateCommand(Purge);
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = DateTimeOffset.UtcNow.ToUnixTimeSeconds() });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = BatchSize });
            var n = (long)(await cmd.ExecuteScalarAsync(ct))!;
            total += n;
            if (n < BatchSize) return total;
        }
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    var n = await PurgeOnceAsync(_stop.Token);
                    if (n > 0) log.PurgedExpired(n);
                }
                catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    log.PurgeFailed(e.Message);   // the database is away (or our bug); the next tick tries again
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        if (_loop is not null) await _loop;
        _stop.Dispose();
    }
}
