using System.Collections.Concurrent;
using System.Net;
using Relay.Server.Configuration;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// Token-bucket limits on EVENTs per address and per author, and REQs per address and per
/// authenticated pubkey. Exempt:
/// the admin and, if the operator says so, the WoT set. A client that keeps sending past its
/// limit is told to go (its session is marked; the connection closes it with the reason).
internal sealed class RateLimits : IDisposable
{
    public const string CloseReason = "rate-limited: too many messages over the limit";

    private readonly RelayOptions _o;
    private readonly Func<Key32, bool> _exempt;
    private readonly Func<Key32, bool> _trusted;
    private readonly ConcurrentDictionary<IPAddress, TokenBucket> _eventsByIp = new();
    private readonly ConcurrentDictionary<Key32, TokenBucket> _eventsByPubkey = new();
    private readonly ConcurrentDictionary<IPAddress, TokenBucket> _reqsByIp = new();
    private readonly ConcurrentDictionary<Key32, TokenBucket> _reqsByPubkey = new();
    private readonly Timer _sweep;

    /// <paramref name="trusted"/>: the web of trust, whose contact lists always pass (the graph
    /// grows through them).
    public RateLimits(RelayOptions options, Func<Key32, bool> exempt, Func<Key32, bool>? trusted = null)
    {
        _trusted = trusted ?? (_ => false);
        _o = options;
        _exempt = exempt;
        _sweep = new Timer(_ => Sweep(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public bool Any => _o.EventsPerSecondPerIp > 0 || _o.EventsPerSecondPerPubkey > 0 || _o.ReqsPerSecondPerIp > 0 || _o.ReqsPerSecondPerPubkey > 0;

    /// Before the signature check, so it can only trust the session: EVENTs per address, unless
    /// the client authenticated (NIP-42) as an exempt pubkey. An event merely claiming the admin's
    /// pubkey is charged like any other (it may be a forgery that costs a verify).
    public WritePolicy EventsByAddress => (_, session, _) =>
    {
        if (_o.EventsPerSecondPerIp <= 0 || AnyExempt(session)) return null;
        if (!Bucket(_eventsByIp, session.Address, _o.EventsPerSecondPerIp).TryTake(Environment.TickCount64))
            return Limited(ref session.RateLimitedStreak, session, "rate-limited: too many events from your address, slow down");
        Volatile.Write(ref session.RateLimitedStreak, 0);
        return null;
    };

    /// After the signature check, when the author is proven: EVENTs per author (exempt: the admin
    /// and, if asked, the web of trust). Run before verification, forged events could drain an
    /// honest author's bucket.
    public WritePolicy EventsByAuthor => (e, session, _) =>
    {
        if (_o.EventsPerSecondPerPubkey <= 0) return null;
        var pubkey = e.PubkeyKey;
        if (_exempt(pubkey) || (e.Kind == Kinds.Contacts && _trusted(pubkey))) return null;
        if (!Bucket(_eventsByPubkey, pubkey, _o.EventsPerSecondPerPubkey).TryTake(Environment.TickCount64))
            return Limited(ref session.AuthorLimitedStreak, session, "rate-limited: too many events from this pubkey, slow down");
        Volatile.Write(ref session.AuthorLimitedStreak, 0);
        return null;
    };

    /// NIP-42 AUTH costs a signature check: charged to the address like a REQ.
    public bool AllowAuth(ConnectionSession session) =>
        _o.ReqsPerSecondPerIp <= 0 || Bucket(_reqsByIp, session.Address, _o.ReqsPerSecondPerIp).TryTake(Environment.TickCount64);

    /// Per address, and per pubkey the client authenticated as (NIP-42), whichever runs out first.
    public FilterPolicy Reqs => (_, session) =>
    {
        if ((_o.ReqsPerSecondPerIp <= 0 && _o.ReqsPerSecondPerPubkey <= 0) || AnyExempt(session)) return null;
        var now = Environment.TickCount64;
        if (_o.ReqsPerSecondPerIp > 0 && !Bucket(_reqsByIp, session.Address, _o.ReqsPerSecondPerIp).TryTake(now))
            return Limited(ref session.RateLimitedStreak, session, "rate-limited: too many subscriptions from your address, slow down");
        if (_o.ReqsPerSecondPerPubkey > 0)
            foreach (var k in session.Authenticated)
                if (!Bucket(_reqsByPubkey, k, _o.ReqsPerSecondPerPubkey).TryTake(now))
                    return Limited(ref session.RateLimitedStreak, session, "rate-limited: too many subscriptions from this pubkey, slow down");
        Volatile.Write(ref session.RateLimitedStreak, 0);
        return null;
    };

    private bool AnyExempt(ConnectionSession session)
    {
        foreach (var k in session.Authenticated) if (_exempt(k)) return true;
        return false;
    }

    private string Limited(ref int streak, ConnectionSession session, string message)
    {
        if (Interlocked.Increment(ref streak) >= _o.RateLimitCloseAfter) session.CloseReason ??= CloseReason;
        return message;
    }

    // The factory takes its state as an argument: a capturing lambda would allocate on every call.
    private TokenBucket Bucket<TKey>(ConcurrentDictionary<TKey, TokenBucket> map, TKey key, double rate) where TKey : notnull =>
        map.TryGetValue(key, out var b) ? b
        : map.GetOrAdd(key, static (_, s) => new TokenBucket(s.Rate, Math.Max(1, s.Rate * s.Burst)), (Rate: rate, Burst: _o.RateLimitBurstSeconds));

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var (k, b) in _eventsByIp) if (b.IsIdle(now)) _eventsByIp.TryRemove(k, out _);
        foreach (var (k, b) in _eventsByPubkey) if (b.IsIdle(now)) _eventsByPubkey.TryRemove(k, out _);
        foreach (var (k, b) in _reqsByIp) if (b.IsIdle(now)) _reqsByIp.TryRemove(k, out _);
        foreach (var (k, b) in _reqsByPubkey) if (b.IsIdle(now)) _reqsByPubkey.TryRemove(k, out _);
    }

    public void Dispose() => _sweep.Dispose();
}
