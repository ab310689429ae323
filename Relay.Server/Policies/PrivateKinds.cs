using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// Direct messages and gift wraps (kinds 4, 1059, 1060 and the operator's list) are served only to
/// their authenticated author or a `p`-tagged recipient, from storage and live alike. A REQ that
/// names such a kind without AUTH is closed `auth-required:` so clients authenticate and retry.
internal sealed class PrivateKinds(int[] kinds)
{
    public bool Any => kinds.Length > 0;

    public bool IsPrivate(int kind) => Array.IndexOf(kinds, kind) >= 0;

    public FilterPolicy Policy => (filters, session) =>
    {
        if (session.IsAuthenticated) return null;
        foreach (var f in filters)
            if (f.Kinds is { } ks)
                foreach (var k in ks)
                    if (IsPrivate(k)) return $"auth-required: kind {k} is served only to its authenticated author or recipient";
        return null;
    };

    /// NIP-45 COUNT names no events, so results can't be filtered: a count of a private kind must
    /// be restricted to the client's own (authors or `#p` among its authenticated pubkeys).
    public FilterPolicy CountPolicy => (filters, session) =>
    {
        foreach (var f in filters)
        {
            if (f.Kinds is not { } ks || !ks.Any(IsPrivate)) continue;
            if (!session.IsAuthenticated) return "auth-required: counts of private kinds are for their authenticated author or recipient";
            if (!IsOwn(f, session))
                return "restricted: counts of private kinds only over your own authors or #p";
        }
        return null;
    };

    /// Kinds a COUNT must leave out: the private ones, when a filter names no kinds and is not
    /// restricted to the client's own authors or `#p` (null when nothing needs hiding).
    public int[]? HiddenFromCount(NostrFilter[] filters, ConnectionSession session)
    {
        foreach (var f in filters)
            if (f.Kinds is null && !IsOwn(f, session))
                return kinds;
        return null;
    }

    /// The filter asks only about the client's own events: its authors, or its `#p`, are all
    /// pubkeys the client authenticated as.
    private static bool IsOwn(NostrFilter f, ConnectionSession session) =>
        AllOwn(f.Authors, session) || AllOwn(f.Tags.FirstOrDefault(t => t.Name == 'p').Values, session);

    private static bool AllOwn(string[]? pubkeys, ConnectionSession session)
    {
        if (pubkeys is not { Length: > 0 }) return false;
        foreach (var p in pubkeys)
            if (!Key32.TryParse(p, out var k) || !session.IsAuthenticatedAs(k)) return false;
        return true;
    }

    /// Live delivery: may this client see the event?
    public bool MaySee(NostrEvent e, ConnectionSession session)
    {
        if (!IsPrivate(e.Kind)) return true;
        if (!session.IsAuthenticated) return false;
        if (session.IsAuthenticatedAs(e.PubkeyKey)) return true;
        foreach (var t in e.Tags)
            if (t.Length >= 2 && t[0] == "p" && Key32.TryParse(t[1], out var p) && session.IsAuthenticatedAs(p)) return true;
        return false;
    }

    /// Stored results: the kind is given (from the tier, or StoredJson.Kind: the relay wrote the
    /// JSON, so its layout is fixed); only a private one is parsed further.
    public bool MaySee(ReadOnlySpan<byte> raw, int kind, ConnectionSession session)
    {
        if (!IsPrivate(kind)) return true;
        if (!session.IsAuthenticated) return false;
        var e = EventParser.TryParse(raw, out _);
        return e is not null && MaySee(e, session);
    }
}
