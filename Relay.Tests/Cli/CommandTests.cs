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
