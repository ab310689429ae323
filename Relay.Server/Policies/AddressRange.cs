using System.Net;
using System.Net.Sockets;

namespace Relay.Server.Policies;

/// A CIDR range (`10.0.0.0/8`, `fd00::/8`, or one address), for TRUSTED_PROXIES.
internal readonly record struct AddressRange(IPAddress Network, int PrefixLength)
{
    public static bool TryParse(string text, out AddressRange range)
    {
        range = default;
        var slash = text.IndexOf('/');
        if (!IPAddress.TryParse(slash < 0 ? text : text[..slash], out var ip)) return false;
        var max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], out prefix) || prefix < 0 || prefix > max)) return false;
        range = new AddressRange(ip, prefix);
        return true;
    }

    public bool Contains(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily != Network.AddressFamily) return false;
        Span<byte> a = stackalloc byte[16], n = stackalloc byte[16];
        address.TryWriteBytes(a, out var len);
        Network.TryWriteBytes(n, out _);
        var bits = PrefixLength;
        for (var i = 0; i < len && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }

    public override string ToString() => $"{Network}/{PrefixLength}";
}
