using System.Net;

namespace Relay.LoadTests.Cli;

/// The relay under test. Load is only ever sent to this machine: anything but a loopback
/// address (or "localhost") is refused before a socket is opened.
internal static class Target
{
    public const string DefaultUrl = "ws://127.0.0.1:8008";

    public static Uri Parse(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "ws")
            throw new UsageException($"--url: '{url}' is not a ws:// URL (TLS is not needed on loopback)");
        var host = uri.DnsSafeHost;
        var loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
        if (!loopback) throw new UsageException($"--url: '{host}' is not a loopback address; load tests only target this machine (127.0.0.0/8, ::1, localhost)");
        return uri;
    }
}
