using System.Text;
using Relay.Storage.Model;

namespace Relay.Storage.Postgres;

/// How a tag value is stored in tags.value (and looked up): most values are 64 lowercase hex
/// characters (event ids and pubkeys in `e` and `p` tags), kept as their 32 bytes, which halves
/// the largest column of the largest index. Every other value is its UTF-8 bytes; one of exactly
/// 32 bytes gets 0xFF appended (a byte UTF-8 never contains), so no text can collide with a
/// decoded hex value. Migration 004 converts rows written before.
public static class TagValueKey
{
    public static byte[] Encode(string value)
    {
        if (Hex.IsLowerHex(value, 64)) return Convert.FromHexString(value);
        var n = Encoding.UTF8.GetByteCount(value);
        if (n != 32) return Encoding.UTF8.GetBytes(value);
        var key = new byte[33];
        Encoding.UTF8.GetBytes(value, key);
        key[32] = 0xFF;
        return key;
    }
}
