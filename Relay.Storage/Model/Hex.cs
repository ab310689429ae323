namespace Relay.Storage.Model;

public static class Hex
{
    /// True for exactly <paramref name="length"/> lowercase hex characters (NIP-01 ids, pubkeys).
    public static bool IsLowerHex(ReadOnlySpan<char> s, int length)
    {
        if (s.Length != length) return false;
        foreach (var c in s)
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }
}
