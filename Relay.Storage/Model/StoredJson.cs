namespace Relay.Storage.Model;

/// Reads fields straight out of an event's stored JSON, which the relay itself wrote as
/// `{"id":"<64>","pubkey":"<64>","created_at":<n>,"kind":<n>,…`, without parsing the rest.
public static class StoredJson
{
    private const int CreatedAtStart = 7 + 64 + 12 + 64 + 15;   // {"id":" … ","pubkey":" … ","created_at":

    public static ReadOnlySpan<byte> Id(ReadOnlySpan<byte> raw) => raw.Slice(7, 64);

    public static int Kind(ReadOnlySpan<byte> raw)
    {
        ReadNumber(raw, CreatedAtStart, out var end);
        return (int)ReadNumber(raw, end + ",\"kind\":"u8.Length, out _);
    }

    private static long ReadNumber(ReadOnlySpan<byte> raw, int start, out int end)
    {
        long n = 0;
        end = start;
        while (end < raw.Length && raw[end] is >= (byte)'0' and <= (byte)'9') n = n * 10 + (raw[end++] - '0');
        return n;
    }
}
