using Npgsql;
using Relay.Server.Cli;
using Relay.Tests.Support;

namespace Relay.Tests.Cli;

/// The operator's commands, run as the binary runs them (without the process around them).
public sealed class CommandTests
{
    [Fact]
    public async Task Healthcheck_exits_0_against_a_live_relay_and_1_against_a_dead_port()
    {
        await using var relay = await TestRelay.StartAsync();
        Assert.Equal(0, await HealthcheckCommand.RunAsync(new Dictionary<string, string>(), ["--port", relay.Port.ToString()]));
        Assert.Equal(0, await HealthcheckCommand.RunAsync(new Dictionary<string, string> { ["RELAY_PORT"] = relay.Port.ToString() }, []));

        var dead = relay.Port;
        await relay.StopAsync();
        Assert.Equal(1, await HealthcheckCommand.RunAsync(new Dictionary<string, string>(), ["--port", dead.ToString()]));
        Assert.Equal(1, await HealthcheckCommand.RunAsync(new Dictionary<string, string>(), ["--port", "not-a-port"]));
    }

    [Fact]
    public async Task Migrate_applies_every_migration_once_and_then_says_the_database_is_up_to_date()
    {
        await using var db = await TestDatabase.CreateAsync();
        var env = new Dictionary<string, string> { ["DATABASE_URL"] = db.Url };
        var output = new StringWriter();
        Assert.Equal(0, await MigrateCommand.RunAsync(env, [], output, TextWriter.Null));
        Assert.Contains("applying 005_deletions", output.ToString());

        var again = new StringWriter();
        Assert.Equal(0, await MigrateCommand.RunAsync(env, [], again, TextWriter.Null));
        Assert.Contains("up to date", again.ToString());
        await using var ds = db.OpenDataSource();
        await using var cmd = ds.CreateCommand("SELECT count(*) FROM schema_migrations");
        Assert.Equal((long)Relay.Storage.Postgres.Migrator.Scripts().Count(), (long)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Stats_shows_events_by_kind_the_time_span_and_table_sizes()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = Relay.Storage.Model.EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "a", createdAt: 1_700_000_000), s.Sign(1, "b", createdAt: 1_700_000_100), s.Sign(7, "+", createdAt: 1_700_000_200));

        var output = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(new Dictionary<string, string> { ["DATABASE_URL"] = relay.Database.Url }, [], output, TextWriter.Null));
        var text = output.ToString();
        Assert.Contains("events: 3", text);
        Assert.Contains("oldest: 2023-11-14 22:13:20Z", text);
        Assert.Matches(@"\n1\s+2\n7\s+1\n", text.Replace("\r", ""));
        Assert.Contains("events_pkey", text);
    }

    [Fact]
    public async Task Migrate_without_a_database_or_with_a_bad_setting_says_what_is_wrong()
    {
        var errors = new StringWriter();
        Assert.Equal(2, await MigrateCommand.RunAsync(new Dictionary<string, string>(), [], TextWriter.Null, errors));
        Assert.Contains("DATABASE_URL", errors.ToString());

        errors = new StringWriter();
        var unreachable = new Dictionary<string, string> { ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/none" };
        Assert.Equal(1, await MigrateCommand.RunAsync(unreachable, [], TextWriter.Null, errors));
        Assert.StartsWith("relay: cannot migrate:", errors.ToString());
    }
}
