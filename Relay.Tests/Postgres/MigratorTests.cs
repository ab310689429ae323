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
