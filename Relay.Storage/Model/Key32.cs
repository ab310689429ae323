using System.Buffers.Binary;

namespace Relay.Storage.Model;

/// An event id or a pubkey as its 32 bytes in four words: a set or dictionary key that costs no
/// string, built from hex (an event's fields, or the hex inside stored JSON) without allocating.
public readonly record struct Key32(ulong A, ulong B, ulong C, ulong D) : IComparable<Key32>
{
    /// As the 32 bytes compare (and the hex, and PostgreSQL's bytea): NIP-01's tie-break on ids.
    public int CompareTo(Key32 other)
    {
        var c = A.CompareTo(other.A);
        if (c != 0) return c;
        c = B.CompareTo(other.B);
        if (c != 0) return c;
        c = C.CompareTo(other.C);
        return c != 0 ? c : D.CompareTo(other.D);
    }

    /// From 64 hex characters (an event's <c>Id</c> or <c>Pubkey</c>).
    public static Key32 Parse(ReadOnlySpan<char> hex)
    {
        Span<byte> bytes = stackalloc byte[32];
        Convert.FromHexString(hex, bytes, out _, out _);
        return FromBytes(bytes);
    }

    /// From 64 hex characters in UTF-8 (the id inside stored JSON).
    public static Key32 Parse(ReadOnlySpan<byte> hex)
    {
        Span<byte> bytes = stackalloc byte[32];
        Convert.FromHexString(hex, bytes, out _, out _);
        return FromBytes(bytes);
    }

    /// True for exactly 64 lowercase hex characters.
    public static bool TryParse(ReadOnlySpan<char> hex, out Key32 key)
    {
        key = default;
        if (!Hex.IsLowerHex(hex, 64)) return false;
        key = Parse(hex);
        return true;
    }

    public static Key32 FromBytes(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[16..]), BinaryPrimitives.ReadUInt64BigEndian(b[24..]));

    public void WriteBytes(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b, A);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(b[24..], D);
    }

    public byte[] ToBytes()
    {
        var b = new byte[32];
        WriteBytes(b);
        return b;
    }

    public string ToHex()
    {
        Span<byte> b = stackalloc byte[32];
        WriteBytes(b);
        return Convert.ToHexStringLower(b);
    }

    public override string ToString() => ToHex();
}
