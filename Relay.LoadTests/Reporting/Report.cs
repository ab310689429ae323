using System.Globalization;
using System.Text;
using System.Text.Json;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Measure;

namespace Relay.LoadTests.Reporting;

/// The outcome of one run: a Markdown report with its charts in a folder, and one `RESULT {json}`
/// line on stdout for scripts. Each figure is reported beside the CPU that the load generator (and
/// the relay, when its pid is known) used while it was measured, because both share the cores.
internal sealed class Report
{
    private readonly List<(string Key, string Label, double Value, string Unit, CpuUse? Cpu)> _figures = [];
    private readonly List<(string Key, string Value)> _info = [];
    private readonly List<(string Key, double Value)> _extra = [];
    private readonly StringBuilder _body = new();
    private readonly string _scenario;
    private readonly string _commandLine;
    private readonly DateTimeOffset _started = DateTimeOffset.Now;
    private readonly bool _markdown;

    /// markdown false: only the summary and the RESULT line (seed writes no report folder; its
    /// --out is the events file).
    public Report(string scenario, Args args, string? url, int? relayPid, bool markdown = true)
    {
        _scenario = scenario;
        _commandLine = args.CommandLine;
        _markdown = markdown;
        Folder = markdown ? args.OptionalString("out") ?? Path.Combine("loadtest-results", $"{scenario}-{_started:yyyyMMdd-HHmmss}") : "";
        var label = args.OptionalString("label");
        if (url is not null) Info("url", url);
        if (relayPid is { } pid)
        {
            Info("relay_pid", pid.ToString(CultureInfo.InvariantCulture));
            Info("relay_process", ProcFs.ProcessName(pid));
        }
        Info("label", label ?? (relayPid is { } p ? ProcFs.ProcessName(p) : url ?? scenario));
    }

    public string Folder { get; }

    public void Info(string key, string value) => _info.Add((key, value));

    /// A figure for the table and the RESULT line; cpu is the span it was measured over.
    public void Figure(string key, string label, double value, string unit, CpuUse? cpu = null) =>
        _figures.Add((key, label, value, unit, cpu));

    /// The CPU of a phase as RESULT fields (prefix_loadgen_cpu_pct, prefix_relay_cpu_pct).
    public void Cpu(string prefix, CpuUse cpu)
    {
        var p = prefix.Length == 0 ? "" : prefix + "_";
        _extra.Add((p + "wall_s", cpu.WallSeconds));
        _extra.Add((p + "loadgen_cpu_s", cpu.LoadgenCpuSeconds));
        _extra.Add((p + "loadgen_cpu_pct", cpu.LoadgenPercent));
        if (!double.IsNaN(cpu.RelayPercent)) _extra.Add((p + "relay_cpu_pct", cpu.RelayPercent));
    }

    public void Section(string title, string markdown)
    {
        _body.Append("## ").AppendLine(title).AppendLine().AppendLine(markdown.TrimEnd()).AppendLine();
    }

    /// Full path for a chart file in the report folder.
    public string ChartPath(string fileName)
    {
        Directory.CreateDirectory(Folder);
        return Path.Combine(Folder, fileName);
    }

    public void Chart(string fileName, string caption)
    {
        if (File.Exists(Path.Combine(Folder, fileName)))
            _body.Append("![").Append(caption).Append("](").Append(fileName).AppendLine(")").AppendLine();
    }

    /// Writes report.md and prints the summary (stderr) and the RESULT line (stdout).
    public void Write()
    {
        if (!_markdown)
        {
            WriteSummaryAndResult(null);
            return;
        }
        Directory.CreateDirectory(Folder);
        var md = new StringBuilder();
        md.Append("# Load test: ").AppendLine(_scenario).AppendLine();
        md.Append("- command: `").Append(_commandLine).AppendLine("`");
        md.Append("- started: ").AppendLine(_started.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture));
        md.Append("- machine: ").Append(Environment.ProcessorCount).Append(" cores, ").AppendLine(Environment.OSVersion.VersionString);
        foreach (var (k, v) in _info) md.Append("- ").Append(k).Append(": ").AppendLine(v);
        md.AppendLine("- CPU is percent of one core (200% = both cores of a 2-core machine); the load generator shares the cores with the relay.");
        md.AppendLine();
        md.AppendLine("| figure | value | loadgen CPU | relay CPU |");
        md.AppendLine("|---|---:|---:|---:|");
        foreach (var f in _figures)
        {
            var cpu = f.Cpu is { } c ? $"{c.LoadgenPercent:F0}% ({c.LoadgenCpuSeconds:F1} s in {c.WallSeconds:F1} s)" : "";
            var relay = f.Cpu is { } r && !double.IsNaN(r.RelayPercent) ? $"{r.RelayPercent:F0}%" : "";
            md.Append("| ").Append(f.Label).Append(" | ").Append(FormatValue(f.Value)).Append(' ').Append(f.Unit)
              .Append(" | ").Append(cpu).Append(" | ").Append(relay).AppendLine(" |");
        }
        md.AppendLine().Append(_body);
        var path = Path.Combine(Folder, "report.md");
        File.WriteAllText(path, md.ToString());
        WriteSummaryAndResult(path);
    }

    private void WriteSummaryAndResult(string? path)
    {
        Console.Error.WriteLine();
        foreach (var f in _figures)
            Console.Error.WriteLine($"  {f.Label,-44} {FormatValue(f.Value),12} {f.Unit,-8} {(f.Cpu is { } c ? c.Describe() : "")}");
        if (path is not null) Console.Error.WriteLine($"  report: {path}");

        using var ms = new MemoryStream();
        // Relaxed: keep "×", "µ" and the like readable; the line is for scripts, not for HTML.
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", _scenario);
            foreach (var (k, v) in _info)
            {
                if (k == "relay_pid") w.WriteNumber(k, long.Parse(v, CultureInfo.InvariantCulture));
                else w.WriteString(k, v);
            }
            foreach (var f in _figures) WriteNumber(w, f.Key, f.Value);
            foreach (var (k, v) in _extra) WriteNumber(w, k, v);
            if (path is not null) w.WriteString("report", path);
            w.WriteEndObject();
        }
        Console.Out.WriteLine("RESULT " + Encoding.UTF8.GetString(ms.ToArray()));
        Console.Out.Flush();
    }

    private static void WriteNumber(Utf8JsonWriter w, string key, double v)
    {
        if (double.IsNaN(v) || double.IsInfinity(v)) w.WriteNull(key);
        else if (v == Math.Floor(v) && Math.Abs(v) < 1e15) w.WriteNumber(key, (long)v);
        else w.WriteNumber(key, Math.Round(v, 3));
    }

    private static string FormatValue(double v) =>
        double.IsNaN(v) ? "-"
        : v == Math.Floor(v) && Math.Abs(v) < 1e15 ? v.ToString("N0", CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture)
        : v.ToString("G4", CultureInfo.InvariantCulture);
}
