namespace Relay.Server.Configuration;

/// NIP-19 `npub1…` (bech32, BIP-173) to the 64-hex pubkey inside it, for ADMIN_PUBKEY.
internal static class Npub
{
    private const string Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    public static string? TryDecode(string text)
    {
        var s = text.ToLowerInvariant();
        if (!s.StartsWith("npub1", StringComparison.Ordinal) || s.Length != 63) return null;
        var values = new byte[s.Length - 5];
        for (var i = 5; i < s.Length; i++)
        {
            var v = Charset.IndexOf(s[i]);
            if (v < 0) return null;
            values[i - 5] = (byte)v;
        }
        if (Polymod([.. HrpExpand("npub"), .. values]) != 1) return null;   // checksum
        // 5-bit groups (without the 6 checksum groups) to bytes.
        var bytes = new List<byte>(32);
        int acc = 0, bits = 0;
        foreach (var v in values.AsSpan(0, values.Length - 6))
        {
            acc = (acc << 5) | v;
            bits += 5;
            if (bits >= 8) { bits -= 8; bytes.Add((byte)((acc >> bits) & 0xFF)); }
        }
        return bytes.Count == 32 ? Convert.ToHexStringLower(bytes.ToArray()) : null;
    }

    private static byte[] HrpExpand(string hrp) =>
        [.. hrp.Select(c => (byte)(c >> 5)), 0, .. hrp.Select(c => (byte)(c & 31))];

    private static uint Polymod(byte[] values)
    {
        uint[] gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
        uint chk = 1;
        foreach (var v in values)
        {
            var top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ v;
            for (var i = 0; i < 5; i++) if (((top >> i) & 1) != 0) chk ^= gen[i];
        }
        return chk;
    }
}
