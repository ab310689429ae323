using System.Buffers.Binary;

namespace Relay.Server.Subscriptions;

/// An event id as its 32 bytes in four words: the key of the set of ids a stored query sent,
/// built from the stored JSON's hex without allocating a string per event.
internal readonly record struct EventIdKey(ulong A, ulong B, ulong C, ulong D)
{
    /// From 64 hex characters (an event's <c>Id</c>).
    public static EventIdKey Parse(ReadOnlySpan<char> hex)
    {
        Span<byte> bytes = stackalloc byte[32];
        Convert.FromHexString(hex, bytes, out _, out _);
        return FromBytes(bytes);
    }

    /// From 64 hex characters in UTF-8 (the id inside stored JSON).
    public static EventIdKey Parse(ReadOnlySpan<byte> hex)
    {
        Span<byte> bytes = stackalloc byte[32];
        Convert.FromHexString(hex, bytes, out _, out _);
        return FromBytes(bytes);
    }

    private static EventIdKey FromBytes(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[16..]), BinaryPrimitives.ReadUInt64BigEndian(b[24..]));
}
