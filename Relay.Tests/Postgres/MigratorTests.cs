using Npgsql;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.Postgres;

public sealed class MigratorTests
{
    private static readonly int[] Versions = [.. Migrator.Scripts().Select(s => s.Version)];

    [Fact]
    public async Task Applying_twice_applies_nothing_the_second_time()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var ds = db.OpenDataSource();

        Assert.NotEmpty(Versions);
        Assert.Equal(Versions.Length, await Migrator.ApplyAsync(ds));
        Assert.Equal(0, await Migrator.ApplyAsync(ds));

        Assert.Equal(Versions.Select(v => (v, 1L)), await AppliedAsync(ds));
        Assert.Equal(1L, await ScalarAsync(ds, "SELECT count(*) FROM pg_class WHERE relname = 'events' AND relkind = 'r'"));
    }

    [Fact]
    public async Task Two_relays_migrating_a_fresh_database_at_once_both_start_and_the_schema_exists_once()
    {
        // A few fresh databases: each gives the two migrations one chance to interleave.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            await using var db = await TestDatabase.CreateAsync();
            await using var ds1 = db.OpenDataSource();
            await using var ds2 = db.OpenDataSource();
            // Open a connection on each first, so both migrations start from connected pools.
            await (await ds1.OpenConnectionAsync()).DisposeAsync();
            await (await ds2.OpenConnectionAsync()).DisposeAsync();

            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var a = Task.Run(async () => { await go.Task; return await Migrator.ApplyAsync(ds1); });
            var b = Task.Run(async () => { await go.Task; return await Migrator.ApplyAsync(ds2); });
            go.SetResult();
            var applied = await Task.WhenAll(a, b);

            Assert.Equal([0, Versions.Length], applied.Order());
            Assert.Equal(Versions.Select(v => (v, 1L)), await AppliedAsync(ds1));
            Assert.Equal(1L, await ScalarAsync(ds1, "SELECT count(*) FROM pg_class WHERE relname = 'events' AND relkind = 'r'"));
            Assert.Equal(1L, await ScalarAsync(ds1, "SELECT count(*) FROM pg_class WHERE relname = 'tags' AND relkind = 'r'"));
        }
    }

    [Fact]
    public async Task A_migration_slower_than_the_command_timeout_still_completes_and_is_announced_first()
    {
        await using var db = await TestDatabase.CreateAsync();
        // A 1 s command timeout and a 2 s migration: stands in for a rewrite of a large database.
        var csb = new NpgsqlConnectionStringBuilder(db.Url) { CommandTimeout = 1 };
        await using var ds = new NpgsqlSlimDataSourceBuilder(csb.ConnectionString).EnableArrays().Build();
        var scripts = Migrator.Scripts().Append((999, "999_slow", "SELECT pg_sleep(2)"));
        var announced = new List<string>();

        Assert.Equal(Versions.Length + 1, await Migrator.ApplyAsync(ds, scripts, announced.Add, CancellationToken.None));

        Assert.Equal(Migrator.Scripts().Select(s => s.Name).Append("999_slow"), announced);
        Assert.Equal(Versions.Append(999).Select(v => (v, 1L)), await AppliedAsync(ds));
    }

    [Fact]
    public async Task Tag_values_written_before_migration_4_are_found_by_queries_after_it()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var ds = db.OpenDataSource();
        // The schema as it was before 004, with tag rows in the old form (every value as UTF-8).
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await ExecAsync(conn, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
            foreach (var (version, name, sql) in Migrator.Scripts().Where(m => m.Version < 4))
            {
                await ExecAsync(conn, sql);
                await ExecAsync(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name);
            }
        }
        using var signer = Relay.Storage.Model.EventSigner.FromSeed("migration-4");
        var text32 = "abcdefghijklmnopqrstuvwxyz012345";
        var hexOfText32 = Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(text32));
        (string Name, string Value)[] values =
        [
            ("p", signer.Pubkey), ("t", text32), ("t", hexOfText32), ("t", hexOfText32.ToUpperInvariant()),
            ("t", "a\u0000b" + new string('0', 61)), ("t", "short"),
        ];
        var events = values.Select((v, i) => signer.SignEvent(1, $"e{i}", [[v.Name, v.Value]], 1_700_000_000 + i)).ToArray();
        await using (var conn = await ds.OpenConnectionAsync())
            foreach (var e in events)
            {
                await ExecAsync(conn, "INSERT INTO events (id, pubkey, created_at, kind, raw) VALUES ($1, $2, $3, 1, $4)", e.IdBytes(), e.PubkeyBytes(), e.CreatedAt, e.Raw);
                var (name, value) = e.IndexedTags().Single();
                await ExecAsync(conn, "INSERT INTO tags (event_id, name, value, created_at, kind) VALUES ($1, $2::text::\"char\", $3, $4, 1)",
                    e.IdBytes(), name.ToString(), System.Text.Encoding.UTF8.GetBytes(value), e.CreatedAt);
            }

        Assert.Equal(Migrator.Scripts().Count(m => m.Version >= 4), await Migrator.ApplyAsync(ds));

        // Each value finds exactly its own event, as before the migration.
        for (var i = 0; i < events.Length; i++)
        {
            var filter = new Relay.Storage.Model.NostrFilter { Tags = [(values[i].Name[0], [events[i].IndexedTags().Single().Value])] };
            var found = new List<string>();
            await EventQuery.RunAsync(ds, [filter], 500, DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                raw => { found.Add(System.Text.Encoding.ASCII.GetString(raw.Span.Slice(7, 64))); return ValueTask.CompletedTask; }, CancellationToken.None);
            Assert.Equal([events[i].Id], found);
        }
        // The hex values are stored as their 32 bytes now.
        Assert.Equal(32L, await ScalarAsync(ds, $"SELECT length(value)::bigint FROM tags WHERE name = 'p'"));
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<List<(int, long)>> AppliedAsync(NpgsqlDataSource ds)
    {
        var rows = new List<(int, long)>();
        await using var cmd = ds.CreateCommand("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version");
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) rows.Add((r.GetInt32(0), r.GetInt64(1)));
        return rows;
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource ds, string sql)
    {
        await using var cmd = ds.CreateCommand(sql);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
