using System.Buffers;
using System.Security.Cryptography;
using Secp256k1Net;

namespace Relay.Storage.Model;

/// Builds and signs events with one secret key (BIP-340), as a client would: for tests, the
/// load generator's seed data and tools. Not used on the relay's receive path.
public sealed class EventSigner : IDisposable
{
    private readonly Secp256k1 _secp = new();
    private readonly byte[] _keypair = new byte[96];

    public EventSigner(byte[] secretKey)
    {
        if (!_secp.KeypairCreate(_keypair, secretKey)) throw new ArgumentException("invalid secret key", nameof(secretKey));
        Span<byte> xonly = stackalloc byte[64];
        Span<byte> pub = stackalloc byte[32];
        _secp.KeypairXonlyPub(xonly, out _, _keypair);
        _secp.XonlyPubkeySerialize(pub, xonly);
        Pubkey = Convert.ToHexStringLower(pub);
    }

    /// A signer with a fresh random key.
    public static EventSigner Random() => new(Secp256k1.CreateSecretKey());

    /// A signer whose key is derived from a seed, so runs are repeatable.
    public static EventSigner FromSeed(string seed) => new(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed)));

    public string Pubkey { get; }

    /// Signs and returns the event's compact JSON (what a client sends inside ["EVENT", …]).
    public string Sign(int kind, string content, string[][]? tags = null, long? createdAt = null) =>
        System.Text.Encoding.UTF8.GetString(SignUtf8(kind, content, tags, createdAt));

    public byte[] SignUtf8(int kind, string content, string[][]? tags = null, long? createdAt = null)
    {
        tags ??= [];
        var at = createdAt ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var content8 = System.Text.Encoding.UTF8.GetBytes(content);
        var w = new ArrayBufferWriter<byte>(256 + content8.Length);
        CanonicalJson.WriteIdPreimage(w, Pubkey, at, kind, tags, content8);
        Span<byte> id = stackalloc byte[32];
        SHA256.HashData(w.WrittenSpan, id);
        Span<byte> sig = stackalloc byte[64];
        Span<byte> aux = stackalloc byte[32];
        RandomNumberGenerator.Fill(aux);
        if (!_secp.SchnorrsigSign32(sig, id, _keypair, aux)) throw new InvalidOperationException("signing failed");

        w.ResetWrittenCount();
        w.Write("{\"id\":\""u8); CanonicalJson.WriteAscii(w, Convert.ToHexStringLower(id));
        w.Write("\",\"pubkey\":\""u8); CanonicalJson.WriteAscii(w, Pubkey);
        w.Write("\",\"created_at\":"u8); CanonicalJson.WriteInt64(w, at);
        w.Write(",\"kind\":"u8); CanonicalJson.WriteInt64(w, kind);
        w.Write(",\"tags\":"u8); CanonicalJson.WriteTags(w, tags);
        w.Write(",\"content\":"u8); CanonicalJson.WriteUtf8String(w, content8);
        w.Write(",\"sig\":\""u8); CanonicalJson.WriteAscii(w, Convert.ToHexStringLower(sig));
        w.Write("\"}"u8);
        return w.WrittenSpan.ToArray();
    }

    /// Signs and parses, for tests that need the model object too.
    public NostrEvent SignEvent(int kind, string content, string[][]? tags = null, long? createdAt = null) =>
        EventParser.TryParse(SignUtf8(kind, content, tags, createdAt), out var error) ?? throw new InvalidOperationException(error);

    public void Dispose() => _secp.Dispose();
}
