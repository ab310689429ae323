using System.Text;
using Microsoft.Extensions.Logging;
using Relay.Server.Configuration;
using Relay.Storage.Postgres;

namespace Relay.Server.Observability;

/// The process's loggers: one line per message on stdout, as text or (LOG_FORMAT=json) one JSON
/// object per line for log shippers. Whatever is written passes a filter that masks the
/// configured secrets (database and Redis passwords, OTLP header values), so a driver's error
/// text or a stack trace cannot leak them.
internal static class RelayLogging
{
    private static int s_masking;

    public static ILoggerFactory Create(RelayOptions options)
    {
        // The console logger captures Console.Out when it is created: put the mask in front first (once).
        if (Interlocked.Exchange(ref s_masking, 1) == 0)
        {
            var secrets = Secrets(options);
            Console.SetOut(new MaskingWriter(Console.Out, secrets));
            Console.SetError(new MaskingWriter(Console.Error, secrets));   // start-up errors, crash traces
        }
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(options.LogLevel);
            if (options.LogFormat == "json")
                b.AddJsonConsole(o => { o.UseUtcTimestamp = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; });
            else
                b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff "; });
        });
    }

    /// Values that must never reach a log: passwords and the OTLP headers' values (API keys).
    public static string[] Secrets(RelayOptions options)
    {
        var secrets = new List<string>();
        foreach (var url in options.DatabaseReadUrls.Prepend(options.DatabaseUrl))
        {
            try
            {
                if (DatabaseUrl.Parse(url).Password is { Length: > 0 } p) secrets.Add(p);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException) { }
        }
        if (options.RedisUrl is { } redis)
        {
            foreach (var part in RedisConfigurationPasswords(redis)) secrets.Add(part);
        }
        if (options.Telemetry.TryGetValue("OTEL_EXPORTER_OTLP_HEADERS", out var headers))
            foreach (var h in headers.Split(',', StringSplitOptions.RemoveEmptyEntries))
                if (h.Split('=', 2) is [_, var value] && value.Trim().Length > 0) secrets.Add(value.Trim());
        // Also as the JSON log escapes them (`+` → \u002B) and as a URL carries them (%2B).
        // Short values would mask ordinary words; a password that short is its own problem.
        return secrets.Where(s => s.Length >= 4)
            .SelectMany(s => new[] { s, System.Text.Json.JsonEncodedText.Encode(s).ToString(), Uri.EscapeDataString(s) })
            .Distinct().OrderByDescending(s => s.Length).ToArray();
    }

    private static IEnumerable<string> RedisConfigurationPasswords(string url)
    {
        string config;
        try { config = Fanout.RedisEventBus.ToConfiguration(url); }
        catch (UriFormatException) { yield break; }
        foreach (var option in config.Split(','))
            if (option.StartsWith("password=", StringComparison.Ordinal)) yield return option["password=".Length..];
    }
}

/// A TextWriter that replaces each secret with "***" before the text reaches the real writer.
internal sealed class MaskingWriter(TextWriter inner, string[] secrets) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    private string Mask(string text)
    {
        foreach (var s in secrets)
            if (text.Contains(s, StringComparison.Ordinal)) text = text.Replace(s, "***", StringComparison.Ordinal);
        return text;
    }

    public override void Write(char value) => inner.Write(value);
    public override void Write(string? value) => inner.Write(value is null ? null : Mask(value));
    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));
    public override void WriteLine(string? value) => inner.WriteLine(value is null ? null : Mask(value));
    public override void Flush() => inner.Flush();
}
