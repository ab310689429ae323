using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// One index key's held events (an author's, a kind's, a tag value's) in an array, oldest first.
/// Events nearly always arrive newest, so adding is an append, and eviction takes from the front
/// (O(1) each, 8 bytes an entry, no node per entry as a tree has); one that arrives out of order
/// moves the newer ones after it. Removal only marks the event (NostrEvent.RemovedFromTier):
/// marked entries are skipped, dropped from the front as it advances, and squeezed out once they
/// are half the array.
internal sealed class TimeIndex
{
    private NostrEvent[] _items = new NostrEvent[2];
    private int _start, _end;   // the window in use: [_start, _end)
    private int _gone;          // marked entries inside the window

    /// A tag value's index: the value, and a `[name, value]` array, that held events share.
    public string? Value;
    public string[]? Pair;
    /// The last insert or removal that touched this index (RecentEvents numbers them).
    public long Stamp;

    /// Entries not removed.
    public int Live => _end - _start - _gone;

    /// The window, oldest first (may hold removed entries: check RemovedFromTier).
    public ReadOnlySpan<NostrEvent> Window => _items.AsSpan(_start, _end - _start);

    public void Add(NostrEvent h)
    {
        // Newest first in each test: the last entry was touched recently, the first one (the
        // oldest) not, and reading it costs a cache miss on every add.
        if (_end == _start || Nip01Order.NewestFirst(h, _items[_end - 1]) < 0)
        {
            if (_end == _items.Length) MakeRoom();
            _items[_end++] = h;   // the usual case: newer than everything held here
            return;
        }
        if (Nip01Order.NewestFirst(h, _items[_start]) > 0)
        {
            // Older than everything held here: loading from the database (newest first) does
            // only this, so the front grows as cheaply as the end.
            if (_start == 0) MakeRoomAtFront();
            _items[--_start] = h;
            return;
        }
        if (_end == _items.Length) MakeRoom();
        // Out of order: before the first entry newer than h. Writers commit in parallel, so h is
        // usually a few entries from the end: gallop back from there (entries near the end are in
        // cache; each probe of a plain binary search is a cache miss), then search that stretch.
        int lo = _start, hi = _end - 1, step = 1;   // _items[hi] is newer than h
        while (hi - step >= _start)
        {
            if (Nip01Order.NewestFirst(_items[hi - step], h) > 0) { lo = hi - step + 1; break; }   // older: h goes after it
            hi -= step;
            step *= 2;
        }
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (Nip01Order.NewestFirst(_items[mid], h) > 0) lo = mid + 1;   // _items[mid] is older
            else hi = mid;
        }
        Array.Copy(_items, lo, _items, lo + 1, _end - lo);
        _items[lo] = h;
        _end++;
    }

    /// One of the entries was marked RemovedFromTier.
    public void Removed()
    {
        _gone++;
        while (_start < _end && _items[_start].RemovedFromTier)
        {
            _items[_start++] = null!;
            _gone--;
        }
        if (_start == _end) _start = _end = 0;
        else if (_gone > 8 && _gone * 2 > _end - _start) Compact();
    }

    /// The oldest entry not removed (the front, once removals have advanced it).
    public NostrEvent? Oldest => _start < _end ? _items[_start] : null;

    private void MakeRoom()
    {
        var used = _end - _start - _gone;
        if (used * 2 <= _items.Length && _items.Length > 2) { Compact(); return; }
        var bigger = new NostrEvent[_items.Length * 2];
        Array.Copy(_items, _start, bigger, 0, _end - _start);
        _items = bigger;
        _end -= _start;
        _start = 0;
    }

    private void MakeRoomAtFront()
    {
        var count = _end - _start;
        var bigger = new NostrEvent[Math.Max(4, _items.Length * 2)];
        Array.Copy(_items, _start, bigger, bigger.Length - count, count);
        _items = bigger;
        _start = bigger.Length - count;
        _end = bigger.Length;
    }

    private void Compact()
    {
        var n = 0;
        for (var i = _start; i < _end; i++)
            if (!_items[i].RemovedFromTier) _items[n++] = _items[i];
        Array.Clear(_items, n, _end - n);
        _start = 0;
        _end = n;
        _gone = 0;
    }
}
