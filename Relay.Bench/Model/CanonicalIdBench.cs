using System.Buffers;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// The event id: NIP-01 preimage `[0,pubkey,created_at,kind,tags,content]` into a reused
/// buffer, then SHA-256. Should be 0 B: the buffer is reused and the hash goes to the stack.
[MemoryDiagnoser]
public class CanonicalIdBench
{
    private readonly ArrayBufferWriter<byte> _writer = new(1024);

    [GlobalSetup]
    public void Setup()
    {
        Span<byte> id = stackalloc byte[32];
        ComputeId(id);
        if (Convert.ToHexStringLower(id) != Samples.Kind1.Id) throw new InvalidOperationException("preimage does not give the sample's id");
    }

    [Benchmark]
    public byte IdPreimageAndSha256()
    {
        Span<byte> id = stackalloc byte[32];
        ComputeId(id);
        return id[0];
    }

    private void ComputeId(Span<byte> id)
    {
        _writer.ResetWrittenCount();
        var e = Samples.Kind1;
        CanonicalJson.WriteIdPreimage(_writer, e.Pubkey, e.CreatedAt, e.Kind, e.Tags, Samples.Kind1ContentUtf8);
        SHA256.HashData(_writer.WrittenSpan, id);
    }
}
