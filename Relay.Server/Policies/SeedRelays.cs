using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Npgsql;
using Relay.Server.Observability;
using Relay.Server.Verify;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Policies;

/// WOT_SEED_RELAYS: other relays asked, as a client, for the contact lists the trust graph
/// needs (batched `authors` REQs for kind 3). What they send is verified and stored here like
/// any event. A seed that is down or slow is logged and skipped.
internal sealed class SeedRelays(string[] urls, NpgsqlDataSource db, string? relayUrl, RelayLog log)
{
    private const int AuthorsPerFilter = 250;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(15);
    /// Larger messages end the fetch from that seed: no contact list is this big.
    private const int MaxMessageBytes = 1024 * 1024;

    /// Hears of each contact list stored (RelayHost publishes it on the bus).
    public Action<NostrEvent>? Stored { get; set; }

    /// The newest verified contact list of each author any seed had; stored before returning.
    public async Task<List<NostrEvent>> FetchAndStoreAsync(IReadOnlyList<Key32> authors, CancellationToken ct)
    {
        var newest = new Dictionary<Key32, NostrEvent>();
        if (authors.Count == 0) return [];
        foreach (var url in urls)
        {
            try
            {
                var n = await FetchAsync(url, authors, newest, ct);
                log.WotSeedFetched(url, n);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or JsonException
                                        or UriFormatException or ArgumentException or InvalidOperationException or InvalidDataException)
            {
                if (ct.IsCancellationRequested) throw;
                log.WotSeedFailed(url, e.Message);
            }
        }
        var events = newest.Values.ToList();
        if (events.Count > 0)
        {
            await using var writer = new EventWriter(db, relayUrl);
            var (outcomes, _, position) = await writer.WriteWithDeletionsAsync(events, ct);
            // Stored here like any event: the hot tier, live subscribers and other processes hear of it.
            for (var i = 0; i < events.Count; i++)
                if (outcomes[i] == WriteOutcome.Stored && Stored is { } stored)
                {
                    events[i].CommitSeq = position;
                    stored(events[i]);
                }
        }
        return events;
    }

    private static async Task<int> FetchAsync(string url, IReadOnlyList<Key32> authors, Dictionary<Key32, NostrEvent> newest, CancellationToken ct)
    {
        using var ws = new ClientWebSocket();
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            connect.CancelAfter(ConnectTimeout);
            await ws.ConnectAsync(new Uri(url), connect.Token);
        }
        using var answer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        answer.CancelAfter(AnswerTimeout);
        var received = 0;
        var wanted = authors.ToHashSet();
        var batches = authors.Chunk(AuthorsPerFilter).ToList();
        for (var i = 0; i < batches.Count; i++)
        {
            var req = $"[\"REQ\",\"wot{i}\",{{\"kinds\":[3],\"authors\":[{string.Join(",", batches[i].Select(k => $"\"{k.ToHex()}\""))}]}}]";
            await ws.SendAsync(Encoding.UTF8.GetBytes(req), WebSocketMessageType.Text, true, answer.Token);
        }
        var open = batches.Count;
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (open > 0)
        {
            message.SetLength(0);
            WebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(buffer, answer.Token);
                if (r.MessageType == WebSocketMessageType.Close) return received;
                message.Write(buffer, 0, r.Count);
                if (message.Length > MaxMessageBytes) throw new InvalidDataException($"a message over {MaxMessageBytes} bytes");
            } while (!r.EndOfMessage);
            using var doc = JsonDocument.Parse(message.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() < 2) continue;
            switch (root[0].GetString())
            {
                case "EOSE" or "CLOSED":
                    open--;
                    break;
                case "EVENT" when root.GetArrayLength() >= 3:
                    var e = EventParser.TryParse(Encoding.UTF8.GetBytes(root[2].GetRawText()), out _);
                    // Only the lists asked for, each checked like any event: a seed can't slip in others.
                    if (e is null || e.Kind != Kinds.Contacts || !wanted.Contains(e.PubkeyKey) || !SignatureVerifier.Verify(e)) break;
                    received++;
                    var author = e.PubkeyKey;
                    if (!newest.TryGetValue(author, out var held) || e.CreatedAt > held.CreatedAt) newest[author] = e;
                    break;
            }
        }
        try { await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2), ct); }
        catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException) { }
        return received;
    }
}
