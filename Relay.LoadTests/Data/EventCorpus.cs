using System.Text.Json;

namespace Relay.LoadTests.Data;

/// The events of a `seed` file: each line's raw JSON (sent as is) and the few fields that the
/// query scenario builds its filters from. Read with Utf8JsonReader, one pass per line.
internal sealed class EventCorpus
{
    public List<byte[]> Json { get; } = [];
    public List<string> Ids { get; } = [];
    public List<string> Pubkeys { get; } = [];
    public List<int> Kinds { get; } = [];
    public List<long> CreatedAt { get; } = [];

    /// Values of "e" tags (events that others reply to, react to or repost).
    public List<string> ReferencedIds { get; } = [];

    /// Values of "p" tags on kinds 1, 6 and 7 (people who get notifications).
    public List<string> MentionedPubkeys { get; } = [];

    public int Count => Json.Count;

    public static EventCorpus Load(string path, int limit = int.MaxValue)
    {
        if (!File.Exists(path)) throw new Cli.UsageException($"--events: '{path}' does not exist (make one with: seed --count 20000 --out {path})");
        var corpus = new EventCorpus();
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var lineNo = 0;
        foreach (var line in ReadLines(stream))
        {
            lineNo++;
            if (line.Length == 0) continue;
            if (corpus.Count >= limit) break;
            if (!corpus.TryAdd(line)) throw new InvalidDataException($"{path}:{lineNo}: not a Nostr event");
        }
        return corpus;
    }

    private bool TryAdd(byte[] json)
    {
        string? id = null, pubkey = null;
        int kind = -1;
        long createdAt = -1;
        var e = new List<string>();
        var p = new List<string>();
        try
        {
            var r = new Utf8JsonReader(json);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return false;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("id"u8)) { r.Read(); id = r.GetString(); }
                else if (r.ValueTextEquals("pubkey"u8)) { r.Read(); pubkey = r.GetString(); }
                else if (r.ValueTextEquals("kind"u8)) { r.Read(); kind = r.GetInt32(); }
                else if (r.ValueTextEquals("created_at"u8)) { r.Read(); createdAt = r.GetInt64(); }
                else if (r.ValueTextEquals("tags"u8))
                {
                    r.Read();
                    while (r.Read() && r.TokenType == JsonTokenType.StartArray)
                    {
                        string? name = null, value = null;
                        var i = 0;
                        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                        {
                            if (i == 0) name = r.GetString();
                            else if (i == 1) value = r.GetString();
                            i++;
                        }
                        if (value is null) continue;
                        if (name == "e") e.Add(value);
                        else if (name == "p") p.Add(value);
                    }
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }
        if (id is null || pubkey is null || kind < 0 || createdAt < 0) return false;
        Json.Add(json);
        Ids.Add(id);
        Pubkeys.Add(pubkey);
        Kinds.Add(kind);
        CreatedAt.Add(createdAt);
        ReferencedIds.AddRange(e);
        if (kind is 1 or 6 or 7) MentionedPubkeys.AddRange(p);
        return true;
    }

    private static IEnumerable<byte[]> ReadLines(Stream stream)
    {
        var buffer = new byte[1 << 20];
        var start = 0;
        var end = 0;
        while (true)
        {
            var nl = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                var line = buffer.AsSpan(start, nl);
                if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
                yield return line.ToArray();
                start += nl + 1;
                continue;
            }
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            if (end == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            var n = stream.Read(buffer, end, buffer.Length - end);
            if (n == 0)
            {
                if (end > start) yield return buffer.AsSpan(start, end - start).ToArray();
                yield break;
            }
            end += n;
        }
    }
}
