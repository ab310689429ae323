using System.Numerics;

namespace Relay.Server.Policies;

/// NIP-13: the id must start with at least N zero bits; a `nonce` tag that commits to a lower
/// target is refused too (the work was aimed below this relay's bar and met it by luck).
internal static class ProofOfWork
{
    public static WritePolicy Minimum(int bits)
    {
        var tooLow = $"pow: difficulty is less than {bits}";
        var committed = $"pow: committed target is less than {bits}";
        return (e, _, _) =>
        {
            if (Difficulty(e.Id) < bits) return tooLow;
            foreach (var t in e.Tags)
                if (t.Length >= 3 && t[0] == "nonce" && int.TryParse(t[2], out var target) && target < bits) return committed;
            return null;
        };
    }

    /// Leading zero bits of a hex id.
    public static int Difficulty(ReadOnlySpan<char> hexId)
    {
        var bits = 0;
        foreach (var c in hexId)
        {
            var nibble = c <= '9' ? c - '0' : c - 'a' + 10;
            if (nibble == 0) { bits += 4; continue; }
            return bits + BitOperations.LeadingZeroCount((uint)nibble) - 28;
        }
        return bits;
    }
}
