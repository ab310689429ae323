using Microsoft.Extensions.Logging.Abstractions;
using Relay.Server;
using Relay.Server.Configuration;

namespace Relay.Tests.Support;

/// A real RelayHost on 127.0.0.1 with an OS-chosen port and its own database.
internal sealed class TestRelay : IAsyncDisposable
{
    private readonly TestDatabase _db;
    private readonly bool _ownsDatabase;
    private bool _stopped;

    public RelayHost Host { get; }
    public RelayOptions Options { get; }
    public int Port => Host.Port;
    public Uri Url => new($"ws://127.0.0.1:{Port}");
    public TestDatabase Database => _db;

    private TestRelay(TestDatabase db, bool ownsDatabase, RelayHost host, RelayOptions options)
    {
        _db = db;
        _ownsDatabase = ownsDatabase;
        Host = host;
        Options = options;
    }

    /// <paramref name="configure"/> adjusts the options (limits, timeouts) for one test. With
    /// <paramref name="sharedDatabase"/>, several relays use one database (the caller drops it).
    public static async Task<TestRelay> StartAsync(Func<RelayOptions, RelayOptions>? configure = null, TestDatabase? sharedDatabase = null)
    {
        var db = sharedDatabase ?? await TestDatabase.CreateAsync();
        var options = new RelayOptions { Host = "127.0.0.1", Port = 0, DatabaseUrl = db.Url, DatabasePoolSize = 10, RelayUrl = "ws://127.0.0.1" };
        if (configure is not null) options = configure(options);
        var host = await RelayHost.StartAsync(options, NullLoggerFactory.Instance);
        return new TestRelay(db, sharedDatabase is null, host, options);
    }

    public Task<RelayClient> ConnectAsync() => RelayClient.ConnectAsync(Url);

    /// Stops the relay (as SIGTERM would) but keeps the database, e.g. to restart on it.
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await Host.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsDatabase) await _db.DisposeAsync();
    }
}
