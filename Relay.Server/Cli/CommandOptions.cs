using Npgsql;
using Relay.Server.Configuration;
using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// What every command does first: read the settings (a bad one is reported and the command
/// exits 2), and, for the database commands, open the database they name.
internal static class CommandOptions
{
    public static bool TryLoad(IReadOnlyDictionary<string, string> env, string[] args, TextWriter errors, out RelayOptions options)
    {
        try
        {
            options = OptionsLoader.Load(env, args);
            return true;
        }
        catch (OptionsException e)
        {
            errors.WriteLine($"relay: {e.Message}");
            options = null!;
            return false;
        }
    }

    /// For `import` and `export`: their own arguments apart, the settings loaded, and their one
    /// FILE ("-", the default, for standard input or output). False after saying what is wrong.
    public static bool TryLoadFileCommand(IReadOnlyDictionary<string, string> env, string[] args, string[] switches, string[] valued,
        string command, TextWriter errors, out CommandArgs parts, out RelayOptions options, out string path)
    {
        (parts, options, path) = (null!, null!, "-");
        try { parts = CommandArgs.Split(args, switches, valued); }
        catch (OptionsException e) { errors.WriteLine($"relay: {e.Message}"); return false; }
        if (!TryLoad(env, parts.Settings, errors, out options)) return false;
        if (parts.Positional.Count > 1) { errors.WriteLine($"relay: {command} takes one FILE (or - for standard {(command == "import" ? "input" : "output")})"); return false; }
        if (parts.Positional.Count == 1) path = parts.Positional[0];
        return true;
    }

    /// A database command's frame: settings (exit 2 on a bad one), the database they name, and
    /// the database's failures turned into "relay: {failure}: …" and exit 1.
    public static async Task<int> RunOnDatabaseAsync(IReadOnlyDictionary<string, string> env, string[] args, TextWriter errors,
        string failure, Func<NpgsqlDataSource, Task<int>> body)
    {
        if (!TryLoad(env, args, errors, out var options)) return 2;
        if (OpenDatabase(options, errors) is not { } opened) return 2;
        await using var db = opened;
        try
        {
            return await body(db);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            errors.WriteLine($"relay: {failure}: {e.Message}");
            return 1;
        }
    }

    /// The database the settings name (arrays on: filters with several values use them), or null
    /// after saying why the URL is unusable.
    public static NpgsqlDataSource? OpenDatabase(RelayOptions options, TextWriter errors)
    {
        try
        {
            var builder = new NpgsqlSlimDataSourceBuilder(DatabaseUrl.Parse(options.DatabaseUrl).ConnectionString);
            builder.EnableArrays();
            return builder.Build();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            errors.WriteLine($"relay: DATABASE_URL is not usable: {e.Message}");
            return null;
        }
    }
}
