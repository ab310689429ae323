using Npgsql;
using Relay.Storage.Postgres;

namespace Relay.Tests.Support;

/// A fresh PostgreSQL database per test (or fixture) on the server that scripts/test started
/// (RELAY_TEST_DATABASE_URL), dropped afterwards.
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string _adminUrl;

    public string Name { get; }
    public string Url { get; }

    private TestDatabase(string adminUrl, string name)
    {
        _adminUrl = adminUrl;
        Name = name;
        var b = DatabaseUrl.Parse(adminUrl);
        b.Database = name;
        Url = b.ConnectionString;
    }

    public static string AdminUrl =>
        Environment.GetEnvironmentVariable("RELAY_TEST_DATABASE_URL")
        ?? throw new InvalidOperationException("RELAY_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL");

    public static async Task<TestDatabase> CreateAsync()
    {
        var name = "relay_test_" + Guid.NewGuid().ToString("N")[..16];
        await using var conn = new NpgsqlConnection(DatabaseUrl.Parse(AdminUrl).ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
        await cmd.ExecuteNonQueryAsync();
        return new TestDatabase(AdminUrl, name);
    }

    /// A data source on this database with the settings the relay uses (arrays enabled).
    public NpgsqlDataSource OpenDataSource()
    {
        var builder = new NpgsqlSlimDataSourceBuilder(Url);
        builder.EnableArrays();
        return builder.Build();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var conn = new NpgsqlConnection(DatabaseUrl.Parse(_adminUrl).ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
