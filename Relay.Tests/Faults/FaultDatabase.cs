using System.Text.Json;
using Npgsql;
using Relay.Storage.Postgres;

namespace Relay.Tests.Faults;

/// Plain SQL behind the relay's back, for the fault tests: what is stored, and the levers
/// (terminate backends, read-only) they pull.
internal static class FaultDatabase
{
    private static async Task<NpgsqlConnection> OpenAsync(string url)
    {
        var conn = new NpgsqlConnection(DatabaseUrl.Parse(url).ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    public static async Task<long> ScalarAsync(string url, string sql, params object[] args)
    {
        await using var conn = await OpenAsync(url);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    public static async Task ExecuteAsync(string url, string sql)
    {
        await using var conn = await OpenAsync(url);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// The ids of every stored event, as lowercase hex.
    public static async Task<HashSet<string>> StoredIdsAsync(string url)
    {
        await using var conn = await OpenAsync(url);
        await using var cmd = new NpgsqlCommand("SELECT encode(id, 'hex') FROM events", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var ids = new HashSet<string>();
        while (await r.ReadAsync()) ids.Add(r.GetString(0));
        return ids;
    }

    public static string Id(string eventJson) => JsonDocument.Parse(eventJson).RootElement.GetProperty("id").GetString()!;
}
