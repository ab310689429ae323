using System.Text;
using Npgsql;
using NpgsqlTypes;
using Relay.Storage.Model;

namespace Relay.Storage.Postgres;

/// Turns the filters of one REQ into one parameterised SQL statement: each filter is a
/// sub-select with its own limit, newest first (ties: lowest id first, as NIP-01 asks),
/// and the union is sorted the same way. Results are the stored raw JSON bytes.
public static class EventQuery
{
    public static NpgsqlCommand Build(IReadOnlyList<NostrFilter> filters, int maxLimit, long now)
    {
        var cmd = new NpgsqlCommand();
        var sql = new StringBuilder();
        var parts = 0;
        foreach (var f in filters)
        {
            if (f.MatchesNothing) continue;
            var limit = Math.Min(f.Limit ?? maxLimit, maxLimit);
            if (limit == 0) continue;
            if (parts++ > 0) sql.Append(" UNION ");
            sql.Append("(SELECT e.id, e.created_at, e.raw FROM events e WHERE (e.expiration IS NULL OR e.expiration > ")
               .Append(Param(cmd, now, NpgsqlDbType.Bigint)).Append(')');
            if (f.Ids is { } ids)
                sql.Append(" AND e.id = ANY(").Append(Param(cmd, ids.Select(Convert.FromHexString).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea)).Append(')');
            if (f.Authors is { } authors)
                sql.Append(" AND e.pubkey = ANY(").Append(Param(cmd, authors.Select(Convert.FromHexString).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea)).Append(')');
            if (f.Kinds is { } kinds)
                sql.Append(" AND e.kind = ANY(").Append(Param(cmd, kinds, NpgsqlDbType.Array | NpgsqlDbType.Integer)).Append(')');
            if (f.Since is { } since)
                sql.Append(" AND e.created_at >= ").Append(Param(cmd, since, NpgsqlDbType.Bigint));
            if (f.Until is { } until)
                sql.Append(" AND e.created_at <= ").Append(Param(cmd, until, NpgsqlDbType.Bigint));
            foreach (var (name, values) in f.Tags)
            {
                // The tag rows carry created_at, so the bounds narrow the index scan too.
                sql.Append(" AND e.id IN (SELECT t.event_id FROM tags t WHERE t.name = ").Append(Param(cmd, name, NpgsqlDbType.InternalChar))
                   .Append(" AND t.value = ANY(").Append(Param(cmd, values.Select(Encoding.UTF8.GetBytes).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea)).Append(')');
                if (f.Since is { } s) sql.Append(" AND t.created_at >= ").Append(Param(cmd, s, NpgsqlDbType.Bigint));
                if (f.Until is { } u) sql.Append(" AND t.created_at <= ").Append(Param(cmd, u, NpgsqlDbType.Bigint));
                sql.Append(')');
            }
            sql.Append(" ORDER BY e.created_at DESC, e.id ASC LIMIT ").Append(limit).Append(')');
        }
        if (parts == 0) return cmd;   // nothing to ask: CommandText stays empty
        cmd.CommandText = parts == 1
            ? sql.ToString(1, sql.Length - 2).Replace("SELECT e.id, e.created_at, e.raw", "SELECT e.raw", StringComparison.Ordinal)
            : $"SELECT q.raw FROM ({sql}) q ORDER BY q.created_at DESC, q.id ASC";
        return cmd;
    }

    private static string Param<T>(NpgsqlCommand cmd, T value, NpgsqlDbType type)
    {
        cmd.Parameters.Add(new NpgsqlParameter<T> { TypedValue = value, NpgsqlDbType = type });
        return "$" + cmd.Parameters.Count;
    }

    /// Runs the query and hands each stored event's raw JSON to <paramref name="onEvent"/>.
    public static async Task<int> RunAsync(NpgsqlDataSource db, IReadOnlyList<NostrFilter> filters, int maxLimit, long now,
        Func<byte[], ValueTask> onEvent, CancellationToken ct)
    {
        await using var cmd = Build(filters, maxLimit, now);
        if (cmd.CommandText.Length == 0) return 0;
        await using var conn = await db.OpenConnectionAsync(ct);
        cmd.Connection = conn;
        await using var reader = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        var n = 0;
        while (await reader.ReadAsync(ct))
        {
            await onEvent(reader.GetFieldValue<byte[]>(0));
            n++;
        }
        return n;
    }

    /// Which of these ids are already stored (one index look-up for the whole list).
    public static async Task<HashSet<string>> FindStoredAsync(NpgsqlDataSource db, IEnumerable<string> ids, CancellationToken ct = default)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        await using var cmd = db.CreateCommand("SELECT id FROM events WHERE id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = ids.Select(Convert.FromHexString).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found.Add(Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(0)));
        return found;
    }
}
