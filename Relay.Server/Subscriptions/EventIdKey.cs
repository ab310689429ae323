namespace Relay.Server.Subscriptions;

/// An event id as its 32 bytes in four words: the key of the set of ids a stored query sent,
/// built from the stored JSON's hex without allocating a string per event.
internal readonly record struct EventIdKey(ulong A, ulong B, ulong C, ulong D)
{
    /// From 64 hex characters (an event's <c>Id</c>).
    public static EventIdKey Parse(ReadOnlySpan<char> hex) =>
        new(Word(hex, 0), Word(hex, 16), Word(hex, 32), Word(hex, 48));

    /// From 64 hex characters in UTF-8 (the id inside stored JSON).
    public static EventIdKey Parse(ReadOnlySpan<byte> hex) =>
        new(Word(hex, 0), Word(hex, 16), Word(hex, 32), Word(hex, 48));

    private static ulong Word(ReadOnlySpan<char> hex, int start)
    {
        ulong w = 0;
        foreach (var c in hex.Slice(start, 16)) w = w << 4 | Nibble(c);
        return w;
    }

    private static ulong Word(ReadOnlySpan<byte> hex, int start)
    {
        ulong w = 0;
        foreach (var c in hex.Slice(start, 16)) w = w << 4 | Nibble((char)c);
        return w;
    }

    // Ids reaching here were validated as lowercase hex when the event was accepted.
    private static ulong Nibble(char c) => (ulong)(c <= '9' ? c - '0' : c - 'a' + 10);
}
