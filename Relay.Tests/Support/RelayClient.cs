using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Relay.Tests.Support;

/// A Nostr client over .NET's own ClientWebSocket (an independent WebSocket implementation),
/// with helpers that read until the reply a test waits for. Every read times out (10 s) so a
/// missing reply fails the test instead of hanging it.
internal sealed class RelayClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ClientWebSocket _ws;

    private RelayClient(ClientWebSocket ws) => _ws = ws;

    public WebSocketState State => _ws.State;
    public WebSocketCloseStatus? CloseStatus => _ws.CloseStatus;
    public string? CloseDescription => _ws.CloseStatusDescription;

    public static async Task<RelayClient> ConnectAsync(Uri url)
    {
        var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        using var cts = new CancellationTokenSource(Timeout);
        await ws.ConnectAsync(url, cts.Token);
        var client = new RelayClient(ws);
        // NIP-42: the relay's first message is the challenge for this connection.
        var first = await client.ReceiveAsync() ?? throw new InvalidOperationException("closed before the AUTH challenge");
        if (first[0].GetString() != "AUTH") throw new InvalidOperationException("expected [\"AUTH\", challenge] first, got " + first.GetRawText());
        client.Challenge = first[1].GetString()!;
        return client;
    }

    /// The NIP-42 challenge the relay sent on connect.
    public string Challenge { get; private set; } = "";

    public async Task SendAsync(string text)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
    }

    /// ["EVENT", event] with the event's JSON as given.
    public Task SendEventAsync(string eventJson) => SendAsync($"[\"EVENT\",{eventJson}]");

    /// The next message as a JSON array, or null when the relay closed the connection.
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        var buffer = new byte[64 * 1024];
        using var ms = new MemoryStream();
        while (true)
        {
            var r = await _ws.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) return null;
            ms.Write(buffer, 0, r.Count);
            if (r.EndOfMessage) break;
        }
        return JsonDocument.Parse(ms.ToArray()).RootElement.Clone();
    }

    /// Reads until a message whose first element is <paramref name="type"/> (and, if given,
    /// whose second element is <paramref name="key"/>); other messages are collected in <paramref name="skipped"/>.
    public async Task<JsonElement> ReadUntilAsync(string type, string? key = null, List<JsonElement>? skipped = null)
    {
        while (true)
        {
            var m = await ReceiveAsync() ?? throw new InvalidOperationException($"connection closed while waiting for {type} ({CloseStatus} {CloseDescription})");
            if (m[0].GetString() == type && (key is null || m[1].GetString() == key)) return m;
            skipped?.Add(m);
        }
    }

    /// Publishes and returns the OK reply: (accepted, message).
    public async Task<(bool Accepted, string Message)> PublishAsync(string eventJson)
    {
        var id = JsonDocument.Parse(eventJson).RootElement.GetProperty("id").GetString();
        await SendEventAsync(eventJson);
        var ok = await ReadUntilAsync("OK", id);
        return (ok[2].GetBoolean(), ok[3].GetString()!);
    }

    /// Sends a REQ and returns the stored events (as their JSON objects) received before EOSE.
    public async Task<List<JsonElement>> QueryAsync(string subId, params string[] filters)
    {
        await SendAsync($"[\"REQ\",{JsonSerializer.Serialize(subId)},{string.Join(",", filters)}]");
        var events = new List<JsonElement>();
        while (true)
        {
            var m = await ReceiveAsync() ?? throw new InvalidOperationException("connection closed before EOSE");
            var type = m[0].GetString();
            if (type == "EOSE" && m[1].GetString() == subId) return events;
            if (type == "EVENT" && m[1].GetString() == subId) events.Add(m[2]);
            if (type == "CLOSED" && m[1].GetString() == subId) throw new InvalidOperationException("CLOSED: " + m[2].GetString());
        }
    }

    public async Task CloseAsync()
    {
        if (_ws.State == WebSocketState.Open)
        {
            using var cts = new CancellationTokenSource(Timeout);
            await _ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await CloseAsync(); } catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        _ws.Dispose();
    }
}
