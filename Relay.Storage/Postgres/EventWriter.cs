using System.Text;
using Npgsql;
using NpgsqlTypes;
using Relay.Storage.Model;

namespace Relay.Storage.Postgres;

/// What happened to one event of a batch.
public enum WriteOutcome
{
    Stored,
    Duplicate,
    /// Replaceable/addressable event older than (or tied and higher id than) the one stored.
    Superseded,
}

/// Writes batches of events in one transaction: binary COPY into session-local staging tables,
/// then INSERT … ON CONFLICT DO NOTHING … RETURNING, so each event gets its true outcome, and the
/// replaceable/addressable rule (newest wins, ties keep the lowest id) in the same transaction.
/// Owns one connection (the staging tables are per session); not thread-safe: one writer loop.
public sealed class EventWriter(NpgsqlDataSource db) : IAsyncDisposable
{
    private NpgsqlConnection? _conn;

    private const string CreateStaging = """
        CREATE TEMP TABLE IF NOT EXISTS staging_events (
            id bytea, pubkey bytea, created_at bigint, kind integer, d_tag bytea, expiration bigint, raw bytea
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS staging_tags (
            event_id bytea, name "char", value bytea, created_at bigint, kind integer
        ) ON COMMIT DELETE ROWS;
        """;

    // Serialise concurrent writers (other relay processes) on the same replaceable key, so the
    // "newest wins" cleanup below sees every competing version.
    private const string LockReplaceable = """
        SELECT pg_advisory_xact_lock(k) FROM (
            SELECT DISTINCT hashtextextended(encode(pubkey, 'hex') || ':' || kind || ':' || encode(d_tag, 'hex'), 0) AS k
            FROM staging_events WHERE d_tag IS NOT NULL ORDER BY 1) keys
        """;

    private const string Insert = """
        WITH ins AS (
            INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, raw)
            SELECT id, pubkey, created_at, kind, d_tag, expiration, raw FROM staging_events
            ON CONFLICT (id) DO NOTHING
            RETURNING id),
        t AS (
            INSERT INTO tags (event_id, name, value, created_at, kind)
            SELECT st.event_id, st.name, st.value, st.created_at, st.kind FROM staging_tags st JOIN ins ON ins.id = st.event_id)
        SELECT id FROM ins
        """;

    private const string DeleteSuperseded = """
        WITH gone AS (
            DELETE FROM events e
            USING (SELECT DISTINCT pubkey, kind, d_tag FROM staging_events WHERE d_tag IS NOT NULL) g
            WHERE e.pubkey = g.pubkey AND e.kind = g.kind AND e.d_tag = g.d_tag
              AND EXISTS (SELECT 1 FROM events w
                          WHERE w.pubkey = e.pubkey AND w.kind = e.kind AND w.d_tag = e.d_tag
                            AND (w.created_at > e.created_at OR (w.created_at = e.created_at AND w.id < e.id)))
            RETURNING e.id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT id FROM gone
        """;

    /// Stores the batch and returns one outcome per event, in order. Throws if the transaction
    /// failed; then nothing of the batch was committed.
    public async Task<WriteOutcome[]> WriteAsync(IReadOnlyList<NostrEvent> batch, CancellationToken ct = default)
    {
        try
        {
            return await WriteOnceAsync(batch, ct);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException && !ct.IsCancellationRequested)
        {
            // The connection may be broken (server restart); drop it so the next batch reconnects.
            await ResetAsync();
            throw;
        }
    }

    private async Task<WriteOutcome[]> WriteOnceAsync(IReadOnlyList<NostrEvent> batch, CancellationToken ct)
    {
        var conn = await ConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);

        var anyReplaceable = false;
        await using (var copy = await conn.BeginBinaryImportAsync(
            "COPY staging_events (id, pubkey, created_at, kind, d_tag, expiration, raw) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var e in batch)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(e.IdBytes(), NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(e.PubkeyBytes(), NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(e.CreatedAt, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(e.Kind, NpgsqlDbType.Integer, ct);
                var cls = e.Class;
                if (cls is KindClass.Replaceable) { await copy.WriteAsync(Array.Empty<byte>(), NpgsqlDbType.Bytea, ct); anyReplaceable = true; }
                else if (cls is KindClass.Addressable) { await copy.WriteAsync(Encoding.UTF8.GetBytes(e.DTag), NpgsqlDbType.Bytea, ct); anyReplaceable = true; }
                else await copy.WriteNullAsync(ct);
                if (e.Expiration is { } exp) await copy.WriteAsync(exp, NpgsqlDbType.Bigint, ct); else await copy.WriteNullAsync(ct);
                await copy.WriteAsync(e.Raw, NpgsqlDbType.Bytea, ct);
            }
            await copy.CompleteAsync(ct);
        }
        await using (var copy = await conn.BeginBinaryImportAsync(
            "COPY staging_tags (event_id, name, value, created_at, kind) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var e in batch)
            {
                byte[]? id = null;
                foreach (var (name, value) in e.IndexedTags())
                {
                    id ??= e.IdBytes();
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(id, NpgsqlDbType.Bytea, ct);
                    await copy.WriteAsync(name, NpgsqlDbType.InternalChar, ct);
                    await copy.WriteAsync(Encoding.UTF8.GetBytes(value), NpgsqlDbType.Bytea, ct);
                    await copy.WriteAsync(e.CreatedAt, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(e.Kind, NpgsqlDbType.Integer, ct);
                }
            }
            await copy.CompleteAsync(ct);
        }

        if (anyReplaceable)
        {
            await using var lockCmd = new NpgsqlCommand(LockReplaceable, conn, tx);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        var inserted = await ReadIdsAsync(conn, tx, Insert, ct);
        var superseded = anyReplaceable ? await ReadIdsAsync(conn, tx, DeleteSuperseded, ct) : [];
        await tx.CommitAsync(ct);

        var outcomes = new WriteOutcome[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var id = batch[i].Id;
            outcomes[i] = superseded.Contains(id) ? WriteOutcome.Superseded
                : inserted.Contains(id) ? WriteOutcome.Stored
                : WriteOutcome.Duplicate;
        }
        return outcomes;
    }

    private static async Task<HashSet<string>> ReadIdsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) ids.Add(Convert.ToHexStringLower(r.GetFieldValue<byte[]>(0)));
        return ids;
    }

    private async Task<NpgsqlConnection> ConnectionAsync(CancellationToken ct)
    {
        if (_conn is { State: System.Data.ConnectionState.Open }) return _conn;
        await ResetAsync();
        var conn = await db.OpenConnectionAsync(ct);
        await using (var cmd = new NpgsqlCommand(CreateStaging, conn)) await cmd.ExecuteNonQueryAsync(ct);
        _conn = conn;
        return conn;
    }

    private async Task ResetAsync()
    {
        if (_conn is { } c) { _conn = null; await c.DisposeAsync(); }
    }

    public ValueTask DisposeAsync() => _conn?.DisposeAsync() ?? ValueTask.CompletedTask;
}
