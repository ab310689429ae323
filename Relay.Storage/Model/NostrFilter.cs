using System.Text.Json;

namespace Relay.Storage.Model;

/// One NIP-01 filter. Null means "no condition"; an empty array matches nothing.
public sealed class NostrFilter
{
    public string[]? Ids { get; init; }
    public string[]? Authors { get; init; }
    public int[]? Kinds { get; init; }
    /// `#x` conditions: tag letter and the values any one of which must appear.
    public (char Name, string[] Values)[] Tags { get; init; } = [];
    public long? Since { get; init; }
    public long? Until { get; init; }
    public int? Limit { get; init; }

    private Key32[]? _idKeys, _authorKeys;

    /// <see cref="Ids"/> and <see cref="Authors"/> as 32-byte keys, each once (computed on first use).
    public Key32[]? IdKeys => Ids is null ? null : _idKeys ??= Keys(Ids);
    public Key32[]? AuthorKeys => Authors is null ? null : _authorKeys ??= Keys(Authors);

    private static Key32[] Keys(string[] hex)
    {
        var keys = new Key32[hex.Length];
        for (var i = 0; i < hex.Length; i++) keys[i] = Key32.Parse(hex[i]);
        return keys.Distinct().ToArray();
    }

    /// True when no stored or live event can match (an empty list, or since after until).
    public bool MatchesNothing =>
        Ids is { Length: 0 } || Authors is { Length: 0 } || Kinds is { Length: 0 } ||
        Tags.Any(t => t.Values.Length == 0) || (Since > Until);

    public bool Matches(NostrEvent e)
    {
        // 32-byte keys, parsed once per filter and once per event: no string compares.
        if (IdKeys is { } ids && Array.IndexOf(ids, e.IdKey) < 0) return false;
        if (AuthorKeys is { } authors && Array.IndexOf(authors, e.PubkeyKey) < 0) return false;
        if (Kinds is not null && Array.IndexOf(Kinds, e.Kind) < 0) return false;
        if (Since is { } since && e.CreatedAt < since) return false;
        if (Until is { } until && e.CreatedAt > until) return false;
        foreach (var (name, values) in Tags)
            if (!HasTag(e, name, values)) return false;
        return true;
    }

    private static bool HasTag(NostrEvent e, char name, string[] values)
    {
        foreach (var t in e.Tags)
            if (t.Length >= 2 && t[0].Length == 1 && t[0][0] == name && Array.IndexOf(values, t[1]) >= 0) return true;
        return false;
    }
}

/// Reads a filter object from a REQ or COUNT message.
public static class FilterParser
{
    public const int MaxValuesPerField = 1000;

    /// Reader on the filter's StartObject; returns null and a reason on failure.
    public static NostrFilter? TryParse(ref Utf8JsonReader reader, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartObject) { error = "a filter must be a JSON object"; return null; }
        string[]? ids = null, authors = null;
        int[]? kinds = null;
        long? since = null, until = null;
        int? limit = null;
        var tags = new List<(char, string[])>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "ids":
                    ids = ReadHexList(ref reader, "ids", out error); if (ids is null) return null; break;
                case "authors":
                    authors = ReadHexList(ref reader, "authors", out error); if (authors is null) return null; break;
                case "kinds":
                    kinds = ReadKinds(ref reader, out error); if (kinds is null) return null; break;
                case "since":
                    if (!TryTimestamp(ref reader, out var s)) { error = "since must be a non-negative integer"; return null; }
                    since = s; break;
                case "until":
                    if (!TryTimestamp(ref reader, out var u)) { error = "until must be a non-negative integer"; return null; }
                    until = u; break;
                case "limit":
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var l) || l < 0)
                    { error = "limit must be a non-negative integer"; return null; }
                    limit = (int)Math.Min(l, int.MaxValue); break;
                case ['#', var letter] when char.IsAsciiLetter(letter):
                    var values = ReadStrings(ref reader, name, out error);
                    if (values is null) return null;
                    if (tags.Any(t => t.Item1 == letter)) { error = $"duplicate filter field {name}"; return null; }
                    tags.Add((letter, values));
                    break;
                default:
                    error = $"unsupported filter field {name}";
                    return null;
            }
        }
        return new NostrFilter { Ids = ids, Authors = authors, Kinds = kinds, Since = since, Until = until, Limit = limit, Tags = tags.ToArray() };
    }

    private static bool TryTimestamp(ref Utf8JsonReader reader, out long value)
    {
        value = 0;
        return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out value) && value >= 0;
    }

    private static string[]? ReadStrings(ref Utf8JsonReader reader, string field, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartArray) { error = $"{field} must be an array of strings"; return null; }
        var list = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String) { error = $"{field} must be an array of strings"; return null; }
            list.Add(reader.GetString()!);
            if (list.Count > MaxValuesPerField) { error = $"{field} has more than {MaxValuesPerField} values"; return null; }
        }
        return list.Distinct().ToArray();
    }

    private static string[]? ReadHexList(ref Utf8JsonReader reader, string field, out string? error)
    {
        var values = ReadStrings(ref reader, field, out error);
        if (values is null) return null;
        foreach (var v in values)
            if (!Hex.IsLowerHex(v, 64)) { error = $"{field} must be 64-character lowercase hex strings"; return null; }
        return values;
    }

    private static int[]? ReadKinds(ref Utf8JsonReader reader, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartArray) { error = "kinds must be an array of integers"; return null; }
        var list = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var k) || k < 0 || k > Model.Kinds.Max)
            { error = "kinds must be integers from 0 to 65535"; return null; }
            list.Add(k);
            if (list.Count > MaxValuesPerField) { error = $"kinds has more than {MaxValuesPerField} values"; return null; }
        }
        return list.Distinct().ToArray();
    }
}
