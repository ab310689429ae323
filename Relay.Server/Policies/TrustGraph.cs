using System.Collections.Concurrent;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// Loads the newest contact lists (followed pubkeys) of these pubkeys; a pubkey without one is left out.
internal delegate Task<Dictionary<Key32, (Key32[] Follows, long CreatedAt)>> FollowListLoader(IReadOnlyCollection<Key32> pubkeys);

/// The Web of Trust: every pubkey within <c>maxDepth</c> follows of the root (the admin, depth 0),
/// with its distance. Only the lists of "inner" pubkeys (depth below the maximum) matter, so only
/// those are held, as 32-byte keys with reverse edges. A new contact list of an inner pubkey is
/// applied incrementally: added follows lower distances by a breadth-first relaxation; removed
/// ones re-derive the distance of just the pubkeys that had no other parent one step closer
/// (and of what hung only from them), so an unfollow costs what it changes, not a recompute.
/// One owner (the WebOfTrust loop) writes; <see cref="IsTrusted"/> is safe from any thread and
/// sees each update whole: the working distances are copied to the published ones only when an
/// update is done, so a pubkey moved during it is never briefly refused.
internal sealed class TrustGraph(Key32 root, int maxDepth, FollowListLoader load)
{
    private readonly Dictionary<Key32, int> _depth = new();
    private readonly ConcurrentDictionary<Key32, int> _published = new();
    private readonly HashSet<Key32> _changed = [];
    private readonly Dictionary<Key32, Key32[]> _follows = new();
    private readonly Dictionary<Key32, long> _listTime = new();
    private readonly Dictionary<Key32, HashSet<Key32>> _followers = new();

    public Key32 Root => root;
    public int MaxDepth => maxDepth;
    public int Count => _published.Count;
    public bool IsTrusted(Key32 pubkey) => _published.ContainsKey(pubkey);
    public bool IsInner(Key32 pubkey) => _published.TryGetValue(pubkey, out var d) && d < maxDepth;
    public int? DepthOf(Key32 pubkey) => _published.TryGetValue(pubkey, out var d) ? d : null;

    /// Pubkeys per depth, 0 (the root) to the maximum.
    public int[] CountByDepth()
    {
        var counts = new int[maxDepth + 1];
        foreach (var d in _published.Values) counts[d]++;
        return counts;
    }

    /// For the owner: pubkeys at this depth in the working distances.
    public IEnumerable<Key32> AtDepth(int depth) => _depth.Where(kv => kv.Value == depth).Select(kv => kv.Key).ToList();

    /// Everything from scratch, breadth first from the root, one load per level.
    public async Task RebuildAsync()
    {
        foreach (var k in _depth.Keys) _changed.Add(k);
        _depth.Clear();
        _follows.Clear();
        _listTime.Clear();
        _followers.Clear();
        await RelaxAsync([(root, 0)]);
        Publish();
    }

    private void Set(Key32 pubkey, int depth)
    {
        _depth[pubkey] = depth;
        _changed.Add(pubkey);
    }

    private void Unset(Key32 pubkey)
    {
        _depth.Remove(pubkey);
        _changed.Add(pubkey);
    }

    /// Makes the finished update visible to readers.
    private void Publish()
    {
        foreach (var k in _changed)
            if (_depth.TryGetValue(k, out var d)) _published[k] = d;
            else _published.TryRemove(k, out _);
        _changed.Clear();
    }

    /// Applies a new contact list of <paramref name="author"/>. Ignored unless the author is an
    /// inner pubkey and the list is not older than the one held (on a tie of created_at, only the
    /// version the database kept, the lowest id, is published to observers). Returns true if applied.
    public async Task<bool> UpdateAsync(Key32 author, Key32[] follows, long createdAt)
    {
        if (!_depth.TryGetValue(author, out var at) || at >= maxDepth || (_listTime.TryGetValue(author, out var held) && createdAt < held)) return false;
        var old = _follows.TryGetValue(author, out var o) ? o : [];
        var now = new HashSet<Key32>(follows);
        var before = new HashSet<Key32>(old);
        var authorDepth = _depth[author];
        // Removals first, on the graph without the new follows, where every distance is exact and
        // can only grow; then the additions, which can only shrink distances.
        var removed = old.Where(k => !now.Contains(k)).ToList();
        if (removed.Count > 0)
        {
            SetList(author, old.Where(now.Contains).ToArray(), createdAt);
            Reroot(removed.Where(k => _depth.TryGetValue(k, out var d) && d == authorDepth + 1));
        }
        SetList(author, follows, createdAt);
        await RelaxAsync(follows.Where(k => !before.Contains(k)).Select(k => (k, authorDepth + 1)).ToList());
        Publish();
        return true;
    }

    /// Lowers distances from the seeds outwards, level by level, loading the lists of pubkeys
    /// that become inner.
    private async Task RelaxAsync(List<(Key32 Node, int Depth)> seeds)
    {
        var levels = new List<Key32>[maxDepth + 1];
        for (var i = 0; i <= maxDepth; i++) levels[i] = [];
        foreach (var (node, depth) in seeds)
        {
            if (depth > maxDepth) continue;
            if (!_depth.TryGetValue(node, out var current) || depth < current)
            {
                Set(node, depth);
                levels[depth].Add(node);
            }
        }
        for (var d = 0; d < maxDepth; d++)
        {
            var level = levels[d].Where(k => _depth.TryGetValue(k, out var cur) && cur == d).Distinct().ToList();
            var missing = level.Where(k => !_follows.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                foreach (var (k, (list, at)) in await load(missing))
                    if (_depth.TryGetValue(k, out var cur) && cur < maxDepth) SetList(k, list, at);
            foreach (var k in level)
            {
                if (!_follows.TryGetValue(k, out var list)) continue;
                foreach (var c in list)
                {
                    if (_depth.TryGetValue(c, out var dc) && dc <= d + 1) continue;
                    Set(c, d + 1);
                    levels[d + 1].Add(c);
                }
            }
        }
    }

    /// Some pubkeys lost a parent one step closer to the root. Those with no other such parent,
    /// and what hung only from them, get their distance again from the parents left (or leave).
    private void Reroot(IEnumerable<Key32> seeds)
    {
        var affected = new HashSet<Key32>();
        var queue = new Queue<Key32>(seeds);
        while (queue.TryDequeue(out var y))
        {
            if (y == root || affected.Contains(y) || !_depth.TryGetValue(y, out var dy) || HasParentAt(y, dy - 1, affected)) continue;
            affected.Add(y);
            if (_follows.TryGetValue(y, out var children))
                foreach (var c in children)
                    if (_depth.TryGetValue(c, out var dc) && dc == dy + 1) queue.Enqueue(c);
        }
        if (affected.Count == 0) return;

        // New distances: from parents outside the affected set first, then through each other in order.
        var best = new Dictionary<Key32, int>();
        foreach (var y in affected)
        {
            var d = int.MaxValue;
            if (_followers.TryGetValue(y, out var parents))
                foreach (var p in parents)
                    if (!affected.Contains(p) && _depth.TryGetValue(p, out var dp) && dp < maxDepth) d = Math.Min(d, dp + 1);
            best[y] = d;
        }
        foreach (var y in affected) Unset(y);
        var buckets = new List<Key32>[maxDepth + 1];
        for (var i = 0; i <= maxDepth; i++) buckets[i] = [];
        foreach (var (y, d) in best) if (d <= maxDepth) buckets[d].Add(y);
        for (var d = 1; d <= maxDepth; d++)
            foreach (var y in buckets[d])
            {
                if (best[y] != d || _depth.ContainsKey(y)) continue;
                Set(y, d);
                if (d >= maxDepth || !_follows.TryGetValue(y, out var list)) continue;
                foreach (var c in list)
                    if (best.TryGetValue(c, out var dc) && d + 1 < dc) { best[c] = d + 1; buckets[d + 1].Add(c); }
            }
        // Whoever is no longer inner keeps no list: its follows stop counting.
        foreach (var y in affected)
            if (!_depth.TryGetValue(y, out var d) || d >= maxDepth) DropList(y);
    }

    private bool HasParentAt(Key32 y, int depth, HashSet<Key32> affected)
    {
        if (!_followers.TryGetValue(y, out var parents)) return false;
        foreach (var p in parents)
            if (!affected.Contains(p) && _depth.TryGetValue(p, out var dp) && dp == depth) return true;
        return false;
    }

    private void SetList(Key32 author, Key32[] follows, long createdAt)
    {
        DropList(author);
        _follows[author] = follows;
        _listTime[author] = createdAt;
        foreach (var c in follows)
        {
            if (!_followers.TryGetValue(c, out var set)) _followers[c] = set = [];
            set.Add(author);
        }
    }

    private void DropList(Key32 author)
    {
        if (!_follows.Remove(author, out var old)) return;
        _listTime.Remove(author);
        foreach (var c in old)
            if (_followers.TryGetValue(c, out var set) && set.Remove(author) && set.Count == 0) _followers.Remove(c);
    }
}
