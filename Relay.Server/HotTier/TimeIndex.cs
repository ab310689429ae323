namespace Relay.Server.HotTier;

/// One index entry: a held event's slot (RecentEvents' slot table) and when it was made. The slot
/// may since have been freed and reused: the entry is live only while the slot's generation is
/// still <see cref="Gen"/>. created_at is kept here so that ordering and `since` need no look-up.
internal readonly record struct Entry(long CreatedAt, int Slot, int Gen);

/// One index key's held events (an author's, a kind's, a tag value's) in an array of entries,
/// ordered by created_at, oldest first; entries with equal created_at are in no particular order
/// (a query orders each second's events by id). Events nearly always arrive newest, so adding is
/// an append, and eviction takes from the front (O(1) each, 16 bytes an entry, no reference for
/// the collector to trace). Removal leaves the entry: dead entries are skipped, dropped from the
/// front as it advances, and squeezed out once they are half the array.
internal sealed class TimeIndex
{
    private Entry[] _items = new Entry[2];
    private int _start, _end;   // the window in use: [_start, _end)
    private int _gone;          // dead entries inside the window

    /// Its number in RecentEvents' index table (an event's tags and author are these numbers).
    public int Id;
    /// What it indexes, to find its key again: an author's key, a kind, or a tag's name and value.
    public Relay.Storage.Model.Key32 Author;
    public int Kind;
    public char Name;
    public string? Value;
    /// The last insert that touched this index (RecentEvents numbers them): a repeated tag.
    public long Stamp;

    /// Entries not removed.
    public int Live => _end - _start - _gone;

    /// The window, oldest first (may hold dead entries: check them against the slots).
    public ReadOnlySpan<Entry> Window => _items.AsSpan(_start, _end - _start);

    public void Add(Entry x, HeldSlot[] slots)
    {
        // The newest entry first: it was touched recently, the oldest one (the front) was not.
        if (_end == _start || x.CreatedAt >= _items[_end - 1].CreatedAt)
        {
            if (_end == _items.Length) MakeRoom(slots);
            _items[_end++] = x;   // the usual case: not older than anything held here
            return;
        }
        if (x.CreatedAt <= _items[_start].CreatedAt)
        {
            // Not newer than anything held here: loading from the database (newest first) does
            // only this, so the front grows as cheaply as the end.
            if (_start == 0) MakeRoomAtFront();
            _items[--_start] = x;
            return;
        }
        if (_end == _items.Length) MakeRoom(slots);
        // Out of order: after the last entry not newer than x. Writers commit in parallel, so x is
        // usually a few entries from the end: gallop back from there (entries near the end are in
        // cache; each probe of a plain binary search is a cache miss), then search that stretch.
        int lo = _start, hi = _end - 1, step = 1;   // _items[hi] is newer than x
        while (hi - step >= _start)
        {
            if (_items[hi - step].CreatedAt <= x.CreatedAt) { lo = hi - step + 1; break; }
            hi -= step;
            step *= 2;
        }
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_items[mid].CreatedAt <= x.CreatedAt) lo = mid + 1;
            else hi = mid;
        }
        Array.Copy(_items, lo, _items, lo + 1, _end - lo);
        _items[lo] = x;
        _end++;
    }

    /// One of the entries died (its slot's generation moved on).
    public void Removed(HeldSlot[] slots)
    {
        _gone++;
        while (_start < _end && !IsLive(_items[_start], slots))
        {
            _start++;
            _gone--;
        }
        if (_start == _end) _start = _end = 0;
        else if (_gone > 8 && _gone * 2 > _end - _start) Compact(slots);
    }

    public static bool IsLive(in Entry e, HeldSlot[] slots) => slots[e.Slot].Gen == e.Gen;

    /// The oldest entry (live: removals advance the front past dead ones); check Live first.
    public Entry Oldest => _items[_start];

    private void MakeRoom(HeldSlot[] slots)
    {
        var used = _end - _start - _gone;
        if (used * 2 <= _items.Length && _items.Length > 2) { Compact(slots); return; }
        var bigger = new Entry[_items.Length * 2];
        Array.Copy(_items, _start, bigger, 0, _end - _start);
        _items = bigger;
        _end -= _start;
        _start = 0;
    }

    private void MakeRoomAtFront()
    {
        var count = _end - _start;
        var bigger = new Entry[Math.Max(4, _items.Length * 2)];
        Array.Copy(_items, _start, bigger, bigger.Length - count, count);
        _items = bigger;
        _start = bigger.Length - count;
        _end = bigger.Length;
    }

    private void Compact(HeldSlot[] slots)
    {
        var n = 0;
        for (var i = _start; i < _end; i++)
            if (IsLive(_items[i], slots)) _items[n++] = _items[i];
        _start = 0;
        _end = n;
        _gone = 0;
    }
}
