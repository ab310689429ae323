using System.Globalization;
using System.Text;

namespace Relay.LoadTests.Data;

/// One event to be signed: everything but id and sig.
internal sealed record PlannedEvent(int Author, int Kind, long CreatedAt, string Content, string[][] Tags, string? RootId);

/// Decides, deterministically from a seed, what a realistic stream of events looks like:
/// ~70% kind 1 notes (replies with e/p tags, hashtags, mentions), ~15% kind 7 reactions,
/// ~5% replaceable (0, 3, 10002), ~2% kind 30023 articles with d tags, ~8% kind 6 reposts.
/// Authors and reply targets are skewed (a few are popular), content sizes are log-normal.
/// Replies, reactions and reposts point at notes that were signed earlier (see <see cref="Signed"/>).
internal sealed class EventPlanner
{
    private const int RecentNotes = 5000;

    private static readonly string[] Words =
    [
        "the", "a", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "this", "relay", "nostr",
        "bitcoin", "zap", "note", "just", "like", "good", "morning", "gm", "pv", "people", "think", "what", "about",
        "time", "day", "today", "really", "new", "post", "client", "key", "sats", "lightning", "node", "running",
        "coffee", "build", "open", "source", "freedom", "protocol", "event", "filter", "subscribe", "follow",
        "why", "not", "more", "less", "fast", "slow", "world", "home", "music", "photo", "art", "code", "rust",
        "c#", "go", "python", "café", "naïve", "über", "日本", "Привет", "🤙", "⚡", "🧡", "😂", "🚀", "#nostr",
        "\"quoted\"", "back\\slash", "tab\there",
    ];

    private static readonly string[] Hashtags =
    [
        "nostr", "bitcoin", "grownostr", "photography", "music", "art", "zapathon", "plebchain", "coffee", "news",
        "dev", "memes", "gm", "food", "travel", "books", "science", "history", "foodstr", "asknostr",
    ];

    private readonly Random _rng;
    private readonly string[] _pubkeys;
    private readonly List<(string Id, int Author, string Root)> _notes = [];
    private readonly List<string> _noteJson = [];
    private int _article;

    public EventPlanner(int seed, string[] pubkeys)
    {
        _rng = new Random(seed);
        _pubkeys = pubkeys;
    }

    public PlannedEvent Next(long createdAt)
    {
        var author = PickAuthor();
        var u = _rng.NextDouble();
        // Reactions, reposts and replies need an earlier note; the very first events are notes.
        var haveTargets = _notes.Count > 0;
        if (u < 0.70 || (!haveTargets && (u < 0.85 || u >= 0.92)))
            return Note(author, createdAt);
        if (u < 0.85) return Reaction(author, createdAt);
        if (u < 0.90) return Replaceable(author, createdAt);
        if (u < 0.92) return Article(author, createdAt);
        return Repost(author, createdAt);
    }

    /// Tells the planner what was signed, so later events can refer to it.
    public void Signed(PlannedEvent e, byte[] json)
    {
        if (e.Kind != 1) return;
        // EventSigner writes {"id":"<64 hex>",… so the id is at a fixed place.
        var id = Encoding.ASCII.GetString(json, 7, 64);
        _notes.Add((id, e.Author, e.RootId ?? id));
        _noteJson.Add(json.Length < 3000 ? Encoding.UTF8.GetString(json) : "");
    }

    private PlannedEvent Note(int author, long at)
    {
        var tags = new List<string[]>();
        string? root = null;
        if (_notes.Count > 0 && _rng.NextDouble() < 0.35)
        {
            var t = _notes[PickTarget()];
            root = t.Root;
            tags.Add(["e", t.Root, "", "root"]);
            if (t.Root != t.Id) tags.Add(["e", t.Id, "", "reply"]);
            tags.Add(["p", _pubkeys[t.Author]]);
        }
        if (_rng.NextDouble() < 0.25)
        {
            var n = 1 + _rng.Next(3);
            for (var i = 0; i < n; i++) tags.Add(["t", Hashtags[Skewed(Hashtags.Length, 2)]]);
        }
        if (_rng.NextDouble() < 0.15) tags.Add(["p", _pubkeys[PickAuthor()]]);
        var size = LogNormalSize(median: 150, sigma: 1.0, min: 50, max: 4096);
        return new PlannedEvent(author, 1, at, Text(size), [.. tags], root);
    }

    private PlannedEvent Reaction(int author, long at)
    {
        var t = _notes[PickTarget()];
        var content = _rng.NextDouble() switch { < 0.6 => "+", < 0.8 => "🤙", < 0.9 => "⚡", _ => "-" };
        return new PlannedEvent(author, 7, at, content, [["e", t.Id], ["p", _pubkeys[t.Author]], ["k", "1"]], null);
    }

    private PlannedEvent Repost(int author, long at)
    {
        var i = PickTarget();
        var t = _notes[i];
        return new PlannedEvent(author, 6, at, _noteJson[i], [["e", t.Id, ""], ["p", _pubkeys[t.Author]]], null);
    }

    private PlannedEvent Replaceable(int author, long at)
    {
        var u = _rng.NextDouble();
        if (u < 0.4)
        {
            var about = Text(LogNormalSize(median: 80, sigma: 0.6, min: 20, max: 400)).Replace("\"", "'", StringComparison.Ordinal).Replace("\\", "/", StringComparison.Ordinal);
            var json = $"{{\"name\":\"author-{author}\",\"about\":\"{about.Replace("\t", " ", StringComparison.Ordinal)}\",\"picture\":\"https://example.com/avatar/{author}.png\",\"nip05\":\"author{author}@example.com\"}}";
            return new PlannedEvent(author, 0, at, json, [], null);
        }
        if (u < 0.8)
        {
            var follows = 20 + Skewed(400, 2);
            var set = new HashSet<int>();
            for (var i = 0; i < follows * 2 && set.Count < Math.Min(follows, _pubkeys.Length - 1); i++)
            {
                var a = PickAuthor();
                if (a != author) set.Add(a);
            }
            return new PlannedEvent(author, 3, at, "", [.. set.Select(a => new[] { "p", _pubkeys[a] })], null);
        }
        var relays = 2 + _rng.Next(4);
        var tags = new string[relays][];
        for (var i = 0; i < relays; i++)
        {
            var url = $"wss://relay{_rng.Next(40)}.example.com";
            tags[i] = _rng.Next(3) switch { 0 => ["r", url], 1 => ["r", url, "read"], _ => ["r", url, "write"] };
        }
        return new PlannedEvent(author, 10002, at, "", tags, null);
    }

    private PlannedEvent Article(int author, long at)
    {
        // A few slugs per author, so some articles replace earlier ones (addressable kind).
        var slug = $"article-{author}-{_rng.Next(5)}";
        _article++;
        var tags = new List<string[]>
        {
            new[] { "d", slug },
            new[] { "title", $"Article {_article} by author {author}" },
            new[] { "published_at", at.ToString(CultureInfo.InvariantCulture) },
            new[] { "t", Hashtags[Skewed(Hashtags.Length, 2)] },
        };
        return new PlannedEvent(author, 30023, at, Text(LogNormalSize(median: 2000, sigma: 0.5, min: 500, max: 4096)), [.. tags], null);
    }

    private int PickAuthor() => Skewed(_pubkeys.Length, 2.5);

    /// A recent note, biased to the newest (threads and reactions cluster on fresh posts).
    private int PickTarget()
    {
        var window = Math.Min(_notes.Count, RecentNotes);
        return _notes.Count - 1 - Skewed(window, 3);
    }

    /// 0..n-1 with small values more likely (u^power).
    private int Skewed(int n, double power) => Math.Min(n - 1, (int)(n * Math.Pow(_rng.NextDouble(), power)));

    private int LogNormalSize(double median, double sigma, int min, int max)
    {
        // Box-Muller: one standard normal from two uniforms.
        var z = Math.Sqrt(-2 * Math.Log(1 - _rng.NextDouble())) * Math.Cos(2 * Math.PI * _rng.NextDouble());
        return (int)Math.Clamp(median * Math.Exp(sigma * z), min, max);
    }

    /// About `bytes` bytes of UTF-8 prose: words, emoji, non-ASCII, quotes, newlines, links.
    private string Text(int bytes)
    {
        var sb = new StringBuilder(bytes + 16);
        var n = 0;
        while (n < bytes)
        {
            string w;
            var u = _rng.NextDouble();
            if (u < 0.01) w = "\n\n";
            else if (u < 0.02) w = $"https://example.com/p/{_rng.Next(1_000_000)}";
            else if (u < 0.06) w = ".";
            else w = Words[Skewed(Words.Length, 1.5)];
            if (sb.Length > 0 && w != ".") { sb.Append(' '); n++; }
            sb.Append(w);
            n += Encoding.UTF8.GetByteCount(w);
        }
        return sb.ToString();
    }
}
