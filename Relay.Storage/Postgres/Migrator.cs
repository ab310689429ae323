using System.Reflection;
using Npgsql;

namespace Relay.Storage.Postgres;

/// Applies the numbered SQL files under Migrations/ that the database has not seen, in order,
/// in one transaction under an advisory lock, so two relays starting at once don't race.
public static class Migrator
{
    private const long LockKey = 0x6E6F737472; // "nostr"

    public static Task<int> ApplyAsync(NpgsqlDataSource db, CancellationToken ct = default) =>
        ApplyAsync(db, Scripts(), applying: null, ct);

    /// As above; <paramref name="applying"/> hears each migration's name before it runs (some
    /// rewrite every row, which on a large database takes minutes).
    public static Task<int> ApplyAsync(NpgsqlDataSource db, Action<string>? applying, CancellationToken ct = default) =>
        ApplyAsync(db, Scripts(), applying, ct);

    internal static async Task<int> ApplyAsync(NpgsqlDataSource db, IEnumerable<(int Version, string Name, string Sql)> scripts,
        Action<string>? applying, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await Exec(conn, tx, $"SELECT pg_advisory_xact_lock({LockKey})", ct);
        await Exec(conn, tx, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", ct);

        var applied = new HashSet<int>();
        await using (var cmd = new NpgsqlCommand("SELECT version FROM schema_migrations", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) applied.Add(r.GetInt32(0));

        var count = 0;
        foreach (var (version, name, sql) in scripts)
        {
            if (applied.Contains(version)) continue;
            applying?.Invoke(name);
            await Exec(conn, tx, sql, ct);
            await using var mark = new NpgsqlCommand("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", conn, tx);
            mark.Parameters.Add(new() { Value = version });
            mark.Parameters.Add(new() { Value = name });
            await mark.ExecuteNonQueryAsync(ct);
            count++;
        }
        await tx.CommitAsync(ct);
        return count;
    }

    /// Embedded resources named like `Relay.Storage.Postgres.Migrations.001_events.sql`.
    public static IEnumerable<(int Version, string Name, string Sql)> Scripts()
    {
        var asm = typeof(Migrator).Assembly;
        const string prefix = "Relay.Storage.Postgres.Migrations.";
        var list = new List<(int, string, string)>();
        foreach (var res in asm.GetManifestResourceNames())
        {
            if (!res.StartsWith(prefix, StringComparison.Ordinal) || !res.EndsWith(".sql", StringComparison.Ordinal)) continue;
            var name = res[prefix.Length..^4];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_')));
            using var stream = asm.GetManifestResourceStream(res)!;
            using var reader = new StreamReader(stream);
            list.Add((version, name, reader.ReadToEnd()));
        }
        return list.OrderBy(s => s.Item1);
    }

    private static async Task Exec(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        // No command timeout: a migration (or the wait for another relay's) takes what it takes;
        // cut off at the default 30 s it would roll back and fail every start on a large database.
        await using var cmd = new NpgsqlCommand(sql, conn, tx) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
