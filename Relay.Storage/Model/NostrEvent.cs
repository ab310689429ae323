namespace Relay.Storage.Model;

/// A validated event: the fields the relay filters on, plus the compact JSON it stores and sends.
/// Built only by <see cref="EventParser"/>, which has checked shapes and the id (not the signature).
public sealed class NostrEvent
{
    private readonly string _id = "";

    /// 64 lowercase hex; <see cref="IdKey"/> is its 32 bytes, parsed once here (the hot tier
    /// indexes by it, and the parser has the hex at hand).
    public required string Id
    {
        get => _id;
        init { _id = value; IdKey = Key32.Parse(value); }
    }

    public Key32 IdKey { get; private init; }
    private readonly string _pubkey = "";

    /// 64 lowercase hex; <see cref="PubkeyKey"/> is its 32 bytes, parsed once here because
    /// several policies and the web of trust look the author up for every event.
    public required string Pubkey
    {
        get => _pubkey;
        init { _pubkey = value; PubkeyKey = Key32.Parse(value); }
    }

    public Key32 PubkeyKey { get; private init; }
    public required string Sig { get; init; }         // 128 lowercase hex
    public required long CreatedAt { get; init; }
    public required int Kind { get; init; }
    public required string[][] Tags { get; init; }
    /// Compact JSON object as stored and sent back to clients; never re-serialised.
    public required byte[] Raw { get; init; }

    /// The commit position of the transaction that stored it (0: not stored, e.g. ephemeral). Set
    /// by the writer after the commit, or from the bus message; a subscription whose stored query
    /// read a position at or above it has already had its chance to return it (the live fence).
    public long CommitSeq { get; set; }

    /// The order in which this process's hot tier took it (0: not taken, e.g. ephemeral). The
    /// tier takes every stored event before any subscription is offered it (the writer before it
    /// answers and publishes, the bus for other processes' events), so a REQ the tier answered saw
    /// exactly the events numbered at or below the number it read: its live fence.
    public long TierSeq { get; set; }

    /// Bytes of the content, unescaped (NIP-11 `max_content_length`).
    public int ContentLength { get; init; }

    public KindClass Class => Kinds.Classify(Kind);

    /// NIP-70: a `["-"]` tag asks relays to accept the event only from its authenticated author.
    public bool IsProtected
    {
        get
        {
            foreach (var t in Tags)
                if (t.Length >= 1 && t[0] == "-") return true;
            return false;
        }
    }

    /// The first value of the first `d` tag, "" when absent (NIP-01 addressable key).
    public string DTag
    {
        get
        {
            foreach (var t in Tags)
                if (t.Length >= 1 && t[0] == "d") return t.Length >= 2 ? t[1] : "";
            return "";
        }
    }

    private const long ExpirationUnread = long.MinValue, NoExpiration = long.MaxValue;
    private long _expiresAt = ExpirationUnread;   // read from the tags once (a held event is asked on every query)

    /// NIP-40 expiration timestamp, or null.
    public long? Expiration
    {
        get
        {
            var at = _expiresAt;
            if (at == ExpirationUnread) _expiresAt = at = ReadExpiration();
            return at == NoExpiration ? null : at;
        }
    }

    private long ReadExpiration()
    {
        foreach (var t in Tags)
            if (t.Length >= 2 && t[0] == "expiration" && long.TryParse(t[1], out var at)) return at;
        return NoExpiration;
    }

    /// Single-letter tags with a value: the ones NIP-01 filters can select by (`#e`, `#p`, ...).
    public IEnumerable<(char Name, string Value)> IndexedTags()
    {
        foreach (var t in Tags)
            if (IsIndexed(t)) yield return (t[0][0], t[1]);
    }

    public static bool IsIndexed(string[] tag) => tag.Length >= 2 && tag[0].Length == 1 && char.IsAsciiLetter(tag[0][0]);

    public NostrEvent() { }

    public byte[] IdBytes() => IdKey.ToBytes();
    public byte[] PubkeyBytes() => PubkeyKey.ToBytes();
}
