namespace Relay.Server.Cli;

/// Splits a command's arguments into its own (a FILE, `--no-verify`, `--filter JSON` …) and the
/// rest, which are settings flags (`--database-url …`) for OptionsLoader.
internal sealed class CommandArgs
{
    public List<string> Positional { get; } = [];
    public HashSet<string> Switches { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);
    public string[] Settings { get; private set; } = [];

    /// <paramref name="switches"/> take no value; <paramref name="valued"/> take the next argument.
    public static CommandArgs Split(string[] args, string[] switches, string[] valued)
    {
        var settings = new List<string>();
        var result = new CommandArgs();
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (switches.Contains(a)) result.Switches.Add(a);
            else if (valued.Contains(a))
            {
                if (i + 1 >= args.Length) throw new Configuration.OptionsException($"{a} needs a value");
                result.Values[a] = args[++i];
            }
            else if (a.StartsWith("--", StringComparison.Ordinal))
            {
                settings.Add(a);
                if (i + 1 < args.Length) settings.Add(args[++i]);   // OptionsLoader says if it lacks a value
            }
            else result.Positional.Add(a);
        }
        result.Settings = [.. settings];
        return result;
    }
}
