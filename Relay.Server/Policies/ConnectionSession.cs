using System.Net;
using System.Security.Cryptography;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// What the policies know about one client: its address (the proxy's client, when the proxy is
/// trusted), its NIP-42 challenge and the pubkeys it has authenticated as, and its rate state.
/// Written by the connection's own receive loop; read by policies and by live delivery, so the
/// authenticated list is replaced, never changed in place.
internal sealed class ConnectionSession
{
    private static long s_nextId;
    private Key32[] _authenticated = [];

    public ConnectionSession(IPAddress address)
    {
        Address = address;
        Challenge = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    }

    /// Also picks the verifier worker, so one client's events keep their order.
    public long Id { get; } = Interlocked.Increment(ref s_nextId);

    /// The client's address: the TCP peer, or what a trusted proxy says it forwarded.
    public IPAddress Address { get; set; }

    /// The NIP-42 challenge sent on connect; an AUTH event must carry it.
    public string Challenge { get; }

    /// For tests: a session on loopback, like a local client that has not authenticated.
    public static ConnectionSession Internal() => new(IPAddress.Loopback);

    /// `relay import`: the operator's own tool. Events it brings pass the NIP-42 rules (NIP-70
    /// protected events, AUTH_REQUIRED_FOR_WRITE) as if their authors had authenticated: they
    /// were accepted by a relay once, and a restore must give back the same set.
    public static ConnectionSession Operator() => new(IPAddress.Loopback) { IsOperator = true };

    public bool IsOperator { get; private init; }

    private long _writtenUpTo;

    /// The commit position its REQs and COUNTs must see (read your own writes on replicas):
    /// raised for every OK true on a stored event, from the writer threads.
    public long WrittenUpTo => Volatile.Read(ref _writtenUpTo);

    public void Wrote(long position) => Store.LatestCommit.Raise(ref _writtenUpTo, position);

    public bool IsAuthenticated => _authenticated.Length > 0;
    public ReadOnlySpan<Key32> Authenticated => Volatile.Read(ref _authenticated);

    public bool IsAuthenticatedAs(Key32 pubkey)
    {
        foreach (var k in Volatile.Read(ref _authenticated)) if (k == pubkey) return true;
        return false;
    }

    /// NIP-42: a connection may authenticate several pubkeys.
    public void Authenticate(Key32 pubkey)
    {
        if (IsAuthenticatedAs(pubkey)) return;
        Volatile.Write(ref _authenticated, [.. _authenticated, pubkey]);
    }

    /// Rate-limited answers in a row, of the limits checked before verification (per address) and
    /// after it (per author, on the verifier threads); a client that keeps going past a limit is closed.
    public int RateLimitedStreak;
    public int AuthorLimitedStreak;

    /// Counted in ConnectionsPerAddress (released when the connection ends).
    public bool CountedAddress { get; set; }

    /// Set by a policy that wants this client gone (with the reason it is told); the
    /// connection closes once the current message is answered.
    public string? CloseReason { get; set; }
}
