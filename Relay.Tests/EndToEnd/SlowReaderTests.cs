using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// A client that stops reading must cost the relay a bounded amount, and never stall others.
public sealed class SlowReaderTests
{
    /// 500 events of 16 KiB by one author: an 8 MB answer to `{"authors":[it],"limit":500}`.
    private static async Task<EventSigner> StoreLargeAnswerAsync(TestRelay relay)
    {
        var signer = EventSigner.Random();
        var padding = new string('x', 16 * 1024);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await using var writer = new EventWriter(relay.Host.Database);
        await writer.WriteAsync(Enumerable.Range(0, 500).Select(i => signer.SignEvent(1, $"{i} {padding}", createdAt: now - i)).ToList());
        return signer;
    }

    [Fact]
    public async Task A_reader_that_stops_taking_a_large_stored_answer_holds_no_query_slot_and_is_closed()
    {
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            HotTierMb = 0,   // events are stored behind the relay's back, straight into PostgreSQL
            MaxConcurrentQueries = 1,
            MaxSendQueueBytes = 256 * 1024,
            // Long enough that the stalled reader is surely still open when the other answer
            // comes (before the fix, that answer waited for this timeout).
            StalledReaderTimeout = TimeSpan.FromSeconds(4),
        });
        using var signer = await StoreLargeAnswerAsync(relay);

        // About 8 MB of stored answer to a client that reads none of it: more than the socket
        // buffers and the send queue hold. The query has finished and given its slot back; the
        // rest of the answer waits in the connection's memory.
        await using var stalled = await RawWebSocket.OpenAsync(relay.Port);
        await stalled.SendTextAsync($"[\"REQ\",\"big\",{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":500}}]");
        await Task.Delay(300);

        // Another client needs the only query slot: it gets its answer while the stalled reader is still open.
        await using var client = await relay.ConnectAsync();
        var events = await client.QueryAsync("small", $"{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":1}}");
        Assert.Single(events);
        Assert.Equal(0, relay.Host.Metrics.SlowReadersClosed.Value);

        // The reader that took nothing is still closed, once it has stalled for the timeout.
        for (var i = 0; i < 200 && relay.Host.Metrics.SlowReadersClosed.Value == 0; i++) await Task.Delay(50);
        Assert.Equal(1, relay.Host.Metrics.SlowReadersClosed.Value);
    }

    [Fact]
    public async Task Stored_answers_past_the_shared_memory_budget_close_their_reader_at_once()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { HotTierMb = 0, MaxSendQueueBytes = 256 * 1024, StoredAnswerMemoryMb = 1 });
        using var signer = await StoreLargeAnswerAsync(relay);

        // 8 MB to a client that reads none of it: more than the 1 MiB the relay may hold.
        await using var stalled = await RawWebSocket.OpenAsync(relay.Port);
        await stalled.SendTextAsync($"[\"REQ\",\"big\",{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":500}}]");
        for (var i = 0; i < 100 && relay.Host.Metrics.SlowReadersClosed.Value == 0; i++) await Task.Delay(20);
        Assert.Equal(1, relay.Host.Metrics.SlowReadersClosed.Value);

        // What it held is given back (/metrics says so), and a reading client's answer of 640 KB,
        // most of it held for a moment (the queue takes 128 KiB at a time here), fits the 1 MiB again.
        for (var i = 0; i < 100 && !relay.Host.Metrics.Render().Contains("relay_stored_answers_held_bytes 0\n"); i++) await Task.Delay(20);
        Assert.Contains("relay_stored_answers_held_bytes 0\n", relay.Host.Metrics.Render());
        await using var client = await relay.ConnectAsync();
        Assert.Equal(40, (await client.QueryAsync("some", $"{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":40}}")).Count);
    }

    [Fact]
    public async Task A_live_subscriber_closed_as_a_slow_reader_still_finds_the_reason_when_it_reads_again_seconds_later()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { HotTierMb = 0, MaxSendQueueBytes = 256 * 1024 });
        await using var slow = await RawWebSocket.OpenAsync(relay.Port);
        await slow.SendTextAsync("[\"REQ\",\"live\",{\"kinds\":[1]}]");
        Assert.Equal("EOSE", (await slow.ReadMessageAsync())[0].GetString());

        // Publish 16 KB events the subscriber never reads until the relay gives up on it: the
        // kernel's socket buffers fill first (megabytes on loopback), then the relay's queue.
        await using var publisher = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var padding = new string('x', 16 * 1024);
        for (var i = 0; i < 3000 && relay.Host.Metrics.SlowReadersClosed.Value == 0; i++)
            Assert.True((await publisher.PublishAsync(signer.Sign(1, $"{i} {padding}"))).Accepted);
        Assert.Equal(1, relay.Host.Metrics.SlowReadersClosed.Value);

        // Longer than the 2 s a normal close handshake is given, then read everything.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var events = new List<RawFrame>();
        var close = await slow.ReadCloseAsync(events);

        Assert.NotNull(close);
        Assert.Equal(1008, close.CloseCode);
        Assert.StartsWith("slow reader", close.PayloadText[2..]);
        Assert.NotEmpty(events);
    }
}

/// What the kernel holds for a client that stopped reading: capped by SEND_BUFFER_KB.
public sealed class KernelSendBufferTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// Unsent bytes in the kernel for the relay's side of a loopback connection (tx_queue in /proc/net/tcp).
    private static long KernelSendQueue(int relayPort, int clientPort)
    {
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (Convert.ToInt32(f[1].Split(':')[1], 16) == relayPort && Convert.ToInt32(f[2].Split(':')[1], 16) == clientPort)
                return Convert.ToInt64(f[4].Split(':')[0], 16);
        }
        throw new InvalidOperationException("connection not found in /proc/net/tcp");
    }

    private static async Task<EventSigner> StoreEightMegabytesAsync(TestRelay relay)
    {
        var signer = EventSigner.Random();
        var padding = new string('x', 16 * 1024);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await using (var writer = new EventWriter(relay.Host.Database))
            await writer.WriteAsync(Enumerable.Range(0, 500).Select(i => signer.SignEvent(1, $"{i} {padding}", createdAt: now - i)).ToList());
        return signer;
    }

    private static async Task<long> HeldForStalledReaderAsync(int sendBufferKb)
    {
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            HotTierMb = 0,   // events are stored behind the relay's back, straight into PostgreSQL
            SendBufferBytes = sendBufferKb * 1024, MaxSendQueueBytes = 64 * 1024 * 1024, StalledReaderTimeout = TimeSpan.FromSeconds(30),
        });
        var (held, stalled) = await StallAsync(relay);
        await stalled.DisposeAsync();
        return held;
    }

    /// An 8 MB answer to a client with a small receive window that reads none of it: the most the
    /// kernel held for it over 2 s, and the stalled connection (for the caller to close).
    private static async Task<(long Held, RawWebSocket Stalled)> StallAsync(TestRelay relay)
    {
        using var signer = await StoreEightMegabytesAsync(relay);
        var stalled = await RawWebSocket.OpenAsync(relay.Port, receiveBuffer: 4096);
        await stalled.SendTextAsync($"[\"REQ\",\"big\",{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":500}}]");
        long held = 0;
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(100);
            held = Math.Max(held, KernelSendQueue(relay.Port, stalled.LocalPort));
        }
        return (held, stalled);
    }

    [Fact]
    public async Task The_kernel_holds_at_most_about_twice_SEND_BUFFER_KB_for_a_reader_that_stopped()
    {
        var capped = await HeldForStalledReaderAsync(64);
        var kernels = await HeldForStalledReaderAsync(0);
        output.WriteLine($"kernel send queue of a stalled reader: {capped} bytes with SEND_BUFFER_KB=64, {kernels} left to the kernel");
        Assert.InRange(capped, 1, 2 * 64 * 1024 + 16 * 1024);   // the kernel doubles SO_SNDBUF for its bookkeeping
        Assert.True(kernels > 2 * capped, $"left to the kernel it held {kernels} bytes, capped {capped}");
    }

    [Fact]
    public async Task Left_to_the_kernel_its_buffered_bytes_count_toward_the_reader_limits()
    {
        // The kernel would take megabytes of this answer; counted with our queue, what a reader
        // that stopped costs stays within MAX_SEND_QUEUE_BYTES, and the stall timeout closes it.
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            HotTierMb = 0,   // events are stored behind the relay's back, straight into PostgreSQL
            SendBufferBytes = 0, MaxSendQueueBytes = 2 * 1024 * 1024, StalledReaderTimeout = TimeSpan.FromSeconds(3),
        });
        var (held, stalled) = await StallAsync(relay);
        await using var _ = stalled;
        output.WriteLine($"kernel send queue of a stalled reader: {held} bytes");
        Assert.InRange(held, 64 * 1024, 2 * 1024 * 1024);
        for (var i = 0; i < 200 && relay.Host.Metrics.SlowReadersClosed.Value == 0; i++) await Task.Delay(50);
        Assert.Equal(1, relay.Host.Metrics.SlowReadersClosed.Value);
    }
    [Fact]
    public async Task A_SEND_BUFFER_KB_above_what_the_kernel_allows_is_reported_at_start()
    {
        var max = long.Parse(File.ReadAllText("/proc/sys/net/core/wmem_max").Trim()) / 1024;
        var asked = Math.Min(2 * max + 1024, 64 * 1024);   // SEND_BUFFER_KB's own maximum
        await using var db = await TestDatabase.CreateAsync();
        await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string>
        {
            ["HOT_TIER_MB"] = "0",
            ["DATABASE_URL"] = db.Url, ["SEND_BUFFER_KB"] = asked.ToString(),
        });
        await using (var client = await relay.ConnectAsync()) { }   // started and serving: its start-up lines are out
        for (var i = 0; i < 20 && !relay.Log.Contains("net.core.wmem_max"); i++) await Task.Delay(100);   // the console logger writes from a queue
        if (asked > 2 * max) Assert.Contains($"net.core.wmem_max = {max} KiB", relay.Log);
        else Assert.DoesNotContain("wmem_max", relay.Log);   // a machine whose cap is above what may be asked
    }
}
