using System.Collections.Concurrent;
using Npgsql;
using Relay.Server.Ingest;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// What deletion (NIP-09) and vanish (NIP-62) requests mean before the database is asked: an
/// author who vanished is refused at once (no verify, no write), and ids a deletion names are
/// forgotten by the recent-ids cache, so a republished copy reaches the writer (which refuses it)
/// instead of being answered "duplicate". Fed by stored events, this process's and others'.
internal sealed class DeletionRecords(RecentIds recent, string? relayUrl)
{
    public const string Vanished = "blocked: this author has asked to vanish from this relay";

    private readonly ConcurrentDictionary<Key32, long> _vanished = new();
    // ConcurrentDictionary.IsEmpty takes every lock; this is read for every event.
    private volatile bool _anyVanished;

    public async Task LoadAsync(NpgsqlDataSource db, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("SELECT pubkey, until FROM vanished");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct)) _vanished[Key32.FromBytes(r.GetFieldValue<byte[]>(0))] = r.GetInt64(1);
        _anyVanished = !_vanished.IsEmpty;
    }

    public void OnStored(NostrEvent e)
    {
        if (e.Kind == Kinds.Deletion)
            foreach (var id in DeletionRequests.EventIds(e)) recent.Remove(Key32.Parse(id));
        else if (e.Kind == Kinds.RequestToVanish && DeletionRequests.VanishesHere(e, relayUrl))
        {
            _vanished.AddOrUpdate(e.PubkeyKey, e.CreatedAt, (_, held) => Math.Max(held, e.CreatedAt));
            _anyVanished = true;
        }
    }

    public WritePolicy Policy => (e, _, _) =>
        _anyVanished && e.Kind != Kinds.RequestToVanish && _vanished.TryGetValue(e.PubkeyKey, out var until) && e.CreatedAt <= until
            ? Vanished : null;
}
