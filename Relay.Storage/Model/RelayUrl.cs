namespace Relay.Storage.Model;

/// Relay URLs as NIP-42 and NIP-62 compare them: the same relay whatever the scheme (ws, wss,
/// http, https), the host's case or a trailing slash.
public static class RelayUrl
{
    public static bool SameRelay(string? a, string? b) =>
        a is not null && b is not null && Normalize(a).Equals(Normalize(b), StringComparison.OrdinalIgnoreCase);

    private static string Normalize(string url)
    {
        var s = url.Trim();
        var scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) s = s[(scheme + 3)..];
        return s.TrimEnd('/');
    }
}
