using Microsoft.Extensions.Logging;

namespace Relay.Server.Observability;

/// Source-generated log messages, event ids grouped by stage (Host 0xxx, Transport 1xxx,
/// Fanout 3xxx, Ingest/Verify 4xxx, Store 5xxx, Req 6xxx, Policies 7xxx). Client mistakes at Debug, our faults at Error.
internal sealed partial class RelayLog(ILogger logger)
{
    private readonly ILogger _logger = logger;

    [LoggerMessage(1, LogLevel.Information, "Relay listening on {Host}:{Port} (database {Database})")]
    public partial void Listening(string host, int port, string database);

    [LoggerMessage(2, LogLevel.Information, "Applied {Count} database migration(s)")]
    public partial void Migrated(int count);

    [LoggerMessage(4, LogLevel.Information, "Applying database migration {Name}; some rewrite every row, which takes minutes on a large database")]
    public partial void Migrating(string name);

    [LoggerMessage(3, LogLevel.Information, "Shutting down: closing {Connections} connection(s)")]
    public partial void ShuttingDown(int connections);

    [LoggerMessage(5, LogLevel.Warning, "Shutdown step failed (shutting down anyway): {Error}")]
    public partial void StopStepFailed(string error);

    [LoggerMessage(1001, LogLevel.Error, "Connection {Id} failed")]
    public partial void ConnectionFailed(Exception e, long id);

    [LoggerMessage(1002, LogLevel.Warning, "Accept failed: {Error}")]
    public partial void AcceptFailed(string error);

    [LoggerMessage(3001, LogLevel.Warning, "Redis unavailable, live events reach this node's subscribers only: {Error}")]
    public partial void RedisUnavailable(string error);

    [LoggerMessage(3004, LogLevel.Error, "Live dispatch of an event failed")]
    public partial void DispatchFailed(Exception e);

    [LoggerMessage(3005, LogLevel.Warning, "Redis connection lost ({Error}); live events reach this node's subscribers only until it is back, reconnecting")]
    public partial void RedisLost(string error);

    [LoggerMessage(3006, LogLevel.Warning, "Redis connection restored; live events travel between the relays again")]
    public partial void RedisRestored();

    [LoggerMessage(3002, LogLevel.Information, "Joined other relays through Redis channel {Channel}")]
    public partial void RedisJoined(string channel);

    [LoggerMessage(5001, LogLevel.Error, "Writing a batch of {Count} event(s) failed")]
    public partial void WriteFailed(Exception e, int count);

    [LoggerMessage(4001, LogLevel.Error, "Verifier worker failed on a batch; its events were answered error:")]
    public partial void VerifyFailed(Exception e);

    [LoggerMessage(5004, LogLevel.Warning, "Database unreachable or refusing {Work} ({What} failed: {Error}); they are answered error: until it is back (logged once per outage)")]
    public partial void DatabaseUnreachable(string work, string what, string error);

    [LoggerMessage(5005, LogLevel.Warning, "Database reachable again for {Work} ({Count} operation(s) failed meanwhile)")]
    public partial void DatabaseRestored(string work, long count);

    [LoggerMessage(5007, LogLevel.Warning, "Read replica {Replica} unreachable ({Error}); its queries go to the other replicas or the primary, retrying it in {Seconds} s")]
    public partial void ReplicaDown(string replica, string error, int seconds);

    [LoggerMessage(5008, LogLevel.Warning, "Read replica {Replica} reachable again")]
    public partial void ReplicaRestored(string replica);

    [LoggerMessage(5006, LogLevel.Error, "{What} failed")]
    public partial void DatabaseOperationFailed(Exception e, string what);

    [LoggerMessage(5002, LogLevel.Information, "Purged {Count} expired event(s) (NIP-40)")]
    public partial void PurgedExpired(long count);

    [LoggerMessage(5003, LogLevel.Warning, "Purging expired events failed: {Error}")]
    public partial void PurgeFailed(string error);

    [LoggerMessage(7001, LogLevel.Information, "Web of trust: {Count} pubkeys ({ByDepth}) from {Source}")]
    public partial void WotSize(int count, string byDepth, string source);

    [LoggerMessage(7002, LogLevel.Warning, "Web of trust update failed, the next refresh rebuilds it: {Error}")]
    public partial void WotUpdateFailed(string error);

    [LoggerMessage(7003, LogLevel.Information, "Web of trust seed {Url}: {Count} contact list(s)")]
    public partial void WotSeedFetched(string url, int count);

    [LoggerMessage(7004, LogLevel.Warning, "Web of trust seed {Url} skipped: {Error}")]
    public partial void WotSeedFailed(string url, string error);

    [LoggerMessage(1004, LogLevel.Warning, "SEND_BUFFER_KB is {Asked} but the kernel caps socket send buffers at net.core.wmem_max = {Max} KiB; raise it (sysctl -w net.core.wmem_max=…) or lower SEND_BUFFER_KB")]
    public partial void SendBufferCapped(int asked, long max);

    [LoggerMessage(1003, LogLevel.Warning, "Open-file limit: {Message}")]
    public partial void FileLimit(string message);


    [LoggerMessage(8001, LogLevel.Information, "Hot tier ready: {Events} events, {Megabytes} MiB, {Horizon}, loaded in {Milliseconds} ms")]
    public partial void HotTierLoaded(int events, long megabytes, string horizon, int milliseconds);

    [LoggerMessage(8002, LogLevel.Warning, "Hot tier dropped: the bus is down, so events other processes store do not arrive; REQs go to PostgreSQL until it is back and the tier has reloaded")]
    public partial void HotTierDropped();

    [LoggerMessage(8003, LogLevel.Warning, "Hot tier could not load ({Error}); REQs go to PostgreSQL; retrying in {Seconds} s")]
    public partial void HotTierLoadFailed(string error, int seconds);
}
