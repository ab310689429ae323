using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// `relay stats`: what the database holds — events by kind, the oldest and newest event, and the
/// size of each table and index — for an operator sizing disks or checking an import.
internal static class StatsCommand
{
    public static Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args, TextWriter output, TextWriter errors) =>
        CommandOptions.RunOnDatabaseAsync(env, args, errors, "cannot read the database", async db =>
        {
            await using (var cmd = db.CreateCommand("SELECT count(*), min(created_at), max(created_at) FROM events"))
            await using (var r = await cmd.ExecuteReaderAsync())
            {
                await r.ReadAsync();
                output.WriteLine($"events: {r.GetInt64(0)}");
                if (!r.IsDBNull(1))
                    output.WriteLine($"oldest: {DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(1)):u}  newest: {DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(2)):u}");
            }
            output.WriteLine();
            output.WriteLine("kind      events");
            await using (var cmd = db.CreateCommand("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY count(*) DESC, kind"))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) output.WriteLine($"{r.GetInt32(0),-9} {r.GetInt64(1)}");
            output.WriteLine();
            output.WriteLine("table or index                      size");
            const string sizes = """
                SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')
                ORDER BY pg_total_relation_size(c.oid) DESC, c.relname
                """;
            await using (var cmd = db.CreateCommand(sizes))
            await using (var r = await cmd.ExecuteReaderAsync())
                while (await r.ReadAsync()) output.WriteLine($"{r.GetString(0),-35} {Size(r.GetInt64(1))}");
            return 0;
        });

    private static string Size(long bytes) =>
        bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):F1} GiB" : bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F1} MiB" : $"{bytes / 1024.0:F0} KiB";
}
