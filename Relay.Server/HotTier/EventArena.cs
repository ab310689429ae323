using System.Runtime.InteropServices;

namespace Relay.Server.HotTier;

/// Where the hot tier keeps held events' bytes: records appended to 1 MiB blocks of native memory
/// (chunks), not one array per event, so the collector neither marks nor moves them, and holding
/// more events does not make it run more often. A record is the event's slot and
/// generation (to tell, when compacting, whether it is still held there), the raw JSON as stored
/// and sent, and the numbers of the tag indexes the event is in.
///
/// A chunk is dropped, not reused, once nothing in it is held, and one under half full of held
/// records is compacted (its records copied to the current chunk): an answer being sent still has
/// the old chunk (a ReadOnlyMemory into it), so nothing a reader holds is ever overwritten.
internal sealed class EventArena(int chunkBytes = EventArena.DefaultChunkBytes)
{
    public const int DefaultChunkBytes = 1 << 20;
    private const int Header = 16;   // slot, generation, raw length, tag count

    private NativeChunk?[] _chunks = new NativeChunk?[16];
    private int[] _used = new int[16], _live = new int[16];
    private readonly Stack<int> _freeChunks = new();
    private int _current = -1, _chunkCount;
    private long _allocated;

    /// Bytes of the chunks in use (held records, records not yet compacted away, the current chunk's free end).
    public long Allocated => _allocated;

    /// Chunks compacted so far.
    public int Compactions { get; private set; }

    public static int RecordBytes(int rawLength, int tagCount) => Header + rawLength + 4 * tagCount;

    /// Appends a record; returns its chunk and offset.
    public (int Chunk, int Offset) Append(int slot, int gen, ReadOnlySpan<byte> raw, ReadOnlySpan<int> tagIds)
    {
        var size = RecordBytes(raw.Length, tagIds.Length);
        int chunk;
        if (size > chunkBytes / 8)
            chunk = NewChunk(size);   // a large event: an array of its own, dropped with it
        else
        {
            if (_current < 0 || _used[_current] + size > _chunks[_current]!.Length)
            {
                // Nothing held in the full one any more (replaced while it filled): no release
                // will come to drop it. One still holding records is compacted when one goes.
                if (_current >= 0 && _live[_current] == 0) Drop(_current);
                _current = NewChunk(chunkBytes);
            }
            chunk = _current;
        }
        var offset = _used[chunk];
        var bytes = _chunks[chunk]!.GetSpan().Slice(offset, size);
        MemoryMarshal.Write(bytes, slot);
        MemoryMarshal.Write(bytes[4..], gen);
        MemoryMarshal.Write(bytes[8..], raw.Length);
        MemoryMarshal.Write(bytes[12..], tagIds.Length);
        raw.CopyTo(bytes[Header..]);
        MemoryMarshal.AsBytes(tagIds).CopyTo(bytes[(Header + raw.Length)..]);
        _used[chunk] += size;
        _live[chunk] += size;
        return (chunk, offset);
    }

    /// The record's raw JSON (its length from the slot: reading it here would be a cache miss).
    public ReadOnlyMemory<byte> Raw(int chunk, int offset, int rawLength) => _chunks[chunk]!.Whole.Slice(offset + Header, rawLength);

    /// The numbers of the tag indexes the record's event is in (each once).
    public TagIds Tags(int chunk, int offset)
    {
        var bytes = _chunks[chunk]!.GetSpan();
        var rawLength = MemoryMarshal.Read<int>(bytes[(offset + 8)..]);
        var count = MemoryMarshal.Read<int>(bytes[(offset + 12)..]);
        return new TagIds(bytes.Slice(offset + Header + rawLength, 4 * count));
    }

    public readonly ref struct TagIds(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        public int Count => _bytes.Length / 4;
        public int this[int i] => MemoryMarshal.Read<int>(_bytes[(4 * i)..]);

        public bool Contains(int id)
        {
            for (var i = 0; i < Count; i++)
                if (this[i] == id) return true;
            return false;
        }
    }

    /// The record at this place is no longer held. True when its chunk should now be compacted
    /// (see <see cref="Compact"/>); an empty chunk is dropped here.
    public bool Release(int chunk, int offset)
    {
        var bytes = _chunks[chunk]!.GetSpan();
        _live[chunk] -= RecordBytes(MemoryMarshal.Read<int>(bytes[(offset + 8)..]), MemoryMarshal.Read<int>(bytes[(offset + 12)..]));
        if (chunk == _current) return false;
        if (_live[chunk] == 0) { Drop(chunk); return false; }
        return _live[chunk] * 2 < _used[chunk] && bytes.Length == chunkBytes;
    }

    /// Copies the chunk's held records to the current chunk (the slot table says which are held,
    /// and is told their new places) and drops it.
    public void Compact<TSlots>(int chunk, TSlots slots) where TSlots : IArenaSlots
    {
        var owner = _chunks[chunk]!;   // kept until the copies are made
        for (var offset = 0; offset < _used[chunk];)
        {
            var span = owner.GetSpan()[offset..];
            var slot = MemoryMarshal.Read<int>(span);
            var gen = MemoryMarshal.Read<int>(span[4..]);
            var rawLength = MemoryMarshal.Read<int>(span[8..]);
            var count = MemoryMarshal.Read<int>(span[12..]);
            var size = RecordBytes(rawLength, count);
            if (slots.IsAt(slot, gen, chunk, offset))
            {
                var ids = MemoryMarshal.Cast<byte, int>(span.Slice(Header + rawLength, 4 * count));
                var (to, at) = Append(slot, gen, span.Slice(Header, rawLength), ids);
                slots.Moved(slot, to, at);
            }
            offset += size;
        }
        Drop(chunk);
        Compactions++;
    }

    private int NewChunk(int size)
    {
        if (!_freeChunks.TryPop(out var chunk))
        {
            chunk = _chunkCount++;
            if (chunk == _chunks.Length)
            {
                Array.Resize(ref _chunks, chunk * 2);
                Array.Resize(ref _used, chunk * 2);
                Array.Resize(ref _live, chunk * 2);
            }
        }
        _chunks[chunk] = new NativeChunk(size);
        _used[chunk] = _live[chunk] = 0;
        _allocated += size;
        return chunk;
    }

    private void Drop(int chunk)
    {
        _allocated -= _chunks[chunk]!.Length;
        _chunks[chunk] = null;   // an answer being sent may still read it: its finalizer frees it after
        _used[chunk] = _live[chunk] = 0;
        _freeChunks.Push(chunk);
    }
}

/// Memory outside the collector's heap: allocating it starts no collection, and a collection
/// neither marks nor moves it. Answers hold it through ReadOnlyMemory (this object), so it is
/// freed by the finalizer once the arena has dropped it and no answer still refers to it.
internal sealed unsafe class NativeChunk : System.Buffers.MemoryManager<byte>
{
    private byte* _pointer;
    public int Length { get; }
    public Memory<byte> Whole { get; }

    public NativeChunk(int length)
    {
        Length = length;
        _pointer = (byte*)NativeMemory.Alloc((nuint)length);
        Whole = CreateMemory(length);
    }

#pragma warning disable CA2015 // a Span into a chunk is only used while its HeldEvent (or the arena) is reachable: StoredEvents keeps the answer's list alive until it is sent
    ~NativeChunk() => Dispose(false);
#pragma warning restore CA2015

    public override Span<byte> GetSpan() => new(_pointer, Length);

    public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        // Only the finalizer frees: the arena never disposes a chunk an answer may still read.
        if (disposing || _pointer == null) return;
        NativeMemory.Free(_pointer);
        _pointer = null;
    }
}

/// What the arena asks the slot table when it compacts a chunk.
internal interface IArenaSlots
{
    /// The record (slot, generation) at this chunk and offset is the one the slot holds.
    bool IsAt(int slot, int gen, int chunk, int offset);
    void Moved(int slot, int chunk, int offset);
}
