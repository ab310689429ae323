using System.Text.Json;
using Npgsql;
using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.Postgres;

/// A fresh test database with the relay's schema applied, and the few reads the storage tests need:
/// REQ results as EventQuery streams them, and plain SQL counts to look behind the query.
internal sealed class MigratedDatabase : IAsyncDisposable
{
    private readonly TestDatabase _db;

    public NpgsqlDataSource DataSource { get; }
    public string Url => _db.Url;

    private MigratedDatabase(TestDatabase db, NpgsqlDataSource ds)
    {
        _db = db;
        DataSource = ds;
    }

    public static async Task<MigratedDatabase> CreateAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var ds = db.OpenDataSource();
        await Migrator.ApplyAsync(ds);
        return new MigratedDatabase(db, ds);
    }

    /// The raw JSON of every event the filters select, in the order EventQuery sends them.
    public async Task<List<byte[]>> QueryAsync(IReadOnlyList<NostrFilter> filters, int maxLimit = 500, long? now = null)
    {
        var raws = new List<byte[]>();
        var n = await EventQuery.RunAsync(DataSource, filters, maxLimit, now ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            raw => { raws.Add(raw.ToArray()); return ValueTask.CompletedTask; }, CancellationToken.None);
        Assert.Equal(raws.Count, n.Rows);
        return raws;
    }

    public Task<List<byte[]>> QueryAsync(NostrFilter filter) => QueryAsync([filter]);

    /// The "id" field of each raw event, in order.
    public static List<string> Ids(IEnumerable<byte[]> raws) =>
        raws.Select(raw =>
        {
            using var doc = JsonDocument.Parse(raw);
            return doc.RootElement.GetProperty("id").GetString()!;
        }).ToList();

    /// Rows in events and tags for one event id, read with plain SQL (not through EventQuery).
    public async Task<(long Events, long Tags)> RowsForAsync(string id)
    {
        var bytes = Convert.FromHexString(id);
        return (await ScalarAsync("SELECT count(*) FROM events WHERE id = $1", bytes),
                await ScalarAsync("SELECT count(*) FROM tags WHERE event_id = $1", bytes));
    }

    public async Task<long> ScalarAsync(string sql, params object[] args)
    {
        await using var cmd = DataSource.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await _db.DisposeAsync();
    }
}
