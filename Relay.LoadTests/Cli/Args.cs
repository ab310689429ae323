using System.Globalization;

namespace Relay.LoadTests.Cli;

/// Thrown for a bad command line; Program prints the message and the usage, and exits 2.
internal sealed class UsageException(string message) : Exception(message);

/// `<scenario> --name value --flag ...`: every option is read once by the scenario that owns it,
/// and <see cref="EnsureAllUsed"/> turns a misspelt option into an error instead of a silent default.
internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private Args(string scenario, string commandLine)
    {
        Scenario = scenario;
        CommandLine = commandLine;
    }

    public string Scenario { get; }

    /// The command line as typed (for the report).
    public string CommandLine { get; }

    public static Args Parse(string[] argv)
    {
        if (argv.Length == 0) throw new UsageException("no scenario given");
        var args = new Args(argv[0], "Relay.LoadTests " + string.Join(' ', argv));
        for (var i = 1; i < argv.Length; i++)
        {
            var a = argv[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length < 3) throw new UsageException($"unexpected argument '{a}'");
            var name = a[2..];
            string value;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < argv.Length && !argv[i + 1].StartsWith("--", StringComparison.Ordinal)) value = argv[++i];
            else value = "true";
            args._values[name] = value;
        }
        return args;
    }

    public bool Has(string name) { _used.Add(name); return _values.ContainsKey(name); }

    public string? OptionalString(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string String(string name, string fallback) => OptionalString(name) ?? fallback;

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = OptionalString(name);
        if (s is null) return fallback;
        if (!int.TryParse(s.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"--{name}: '{s}' is not a whole number");
        if (v < min || v > max) throw new UsageException($"--{name}: {v} is outside {min}..{max}");
        return v;
    }

    public int? OptionalInt(string name, int min = int.MinValue) => Has(name) ? Int(name, 0, min) : null;

    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var s = OptionalString(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v))
            throw new UsageException($"--{name}: '{s}' is not a number");
        if (v < min || v > max) throw new UsageException($"--{name}: {v} is outside {min}..{max}");
        return v;
    }

    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option(s) for '{Scenario}': {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
