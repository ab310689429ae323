namespace Relay.Server.Configuration;

/// Everything the relay is configured with, read once at start-up by <see cref="OptionsLoader"/>.
internal sealed record RelayOptions
{
    public string Host { get; init; } = "0.0.0.0";
    public int Port { get; init; } = 8008;
    public required string DatabaseUrl { get; init; }
    public int DatabasePoolSize { get; init; } = 20;
    /// Read replicas (streaming standbys of the primary) for REQ and COUNT queries.
    public string[] DatabaseReadUrls { get; init; } = [];
    public string? RelayUrl { get; init; }
    /// Unset: single node. Set: live events travel between relay processes through Redis pub/sub.
    public string? RedisUrl { get; init; }
    public string RedisChannel { get; init; } = "nostr-relay:events";

    // Logs and telemetry
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;
    /// "text" (one line per message) or "json" (one JSON object per line, for log shippers).
    public string LogFormat { get; init; } = "text";
    /// The OpenTelemetry SDK's own settings (OTEL_*), passed to it as they are; an exporter runs
    /// only when OTEL_EXPORTER_OTLP_ENDPOINT is among them.
    public IReadOnlyDictionary<string, string> Telemetry { get; init; } = new Dictionary<string, string>();

    // NIP-11 document
    public string Name { get; init; } = "relay";
    public string Description { get; init; } = "A Nostr relay";
    public string? Contact { get; init; }
    public string? Icon { get; init; }

    // Limits (published in NIP-11 `limitation`)
    public int MaxMessageBytes { get; init; } = 512 * 1024;
    public int MaxEventBytes { get; init; } = 256 * 1024;
    public int MaxSubscriptions { get; init; } = 100;
    public int MaxFilters { get; init; } = 20;
    public int MaxLimit { get; init; } = 500;
    public int MaxSubIdLength { get; init; } = 64;
    public int MaxConnections { get; init; } = 20_000;
    /// Events dated further ahead than this are refused (clock skew allowance).
    public int MaxFutureSeconds { get; init; } = 15 * 60;

    // Timeouts
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(55);
    /// A connection whose stored REQ answer is held up by a full send queue, and that takes
    /// nothing for this long, is closed: the waiting query holds one of the few query slots.
    public TimeSpan StalledReaderTimeout { get; init; } = TimeSpan.FromSeconds(5);

    // Pipeline
    public int VerifyWorkers { get; init; } = Environment.ProcessorCount;
    public int WriteBatchSize { get; init; } = 500;
    /// Writer loops, each with its own PostgreSQL connection.
    public int WriteConnections { get; init; } = 2;
    public TimeSpan WriteBatchDelay { get; init; } = TimeSpan.Zero;
    /// REQ/COUNT queries running in PostgreSQL at once; the rest wait their turn in order. About
    /// one per core: more only time-slice the same cores and stretch every query's latency.
    public int MaxConcurrentQueries { get; init; } = Math.Max(2, Environment.ProcessorCount);
    /// Stored answers held for clients not reading them yet, all together; past it such a client
    /// is closed as a slow reader (a query never waits for a reader while it holds a slot).
    public int StoredAnswerMemoryMb { get; init; } = 128;
    /// The hot tier's memory budget (HOT_TIER_MB; 0: off, every REQ goes to PostgreSQL).
    public int HotTierMb { get; init; } = DefaultHotTierMb;
    /// The budget in bytes when set (tests: less than a megabyte, so the horizon moves).
    public long? HotTierBytes { get; init; }

    /// A quarter of the memory the process may use (the container's limit, if it has one).
    public static int DefaultHotTierMb => (int)Math.Min(int.MaxValue, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4 / (1024 * 1024));
    /// A connection whose unsent replies exceed this many bytes is closed (a slow reader); what
    /// the kernel still holds for it counts too.
    public int MaxSendQueueBytes { get; init; } = 8 * 1024 * 1024;
    /// SO_SNDBUF of each client socket (the kernel doubles it for its bookkeeping), so a reader
    /// that stops costs at most MaxSendQueueBytes + twice this. Left to the kernel (0), a stalled
    /// reader's kernel buffer grew to ~3 MiB on loopback, held up to 30 s after it was closed;
    /// then what the kernel holds is measured and counted toward MaxSendQueueBytes instead.
    public int SendBufferBytes { get; init; } = 256 * 1024;

    /// NIP-11 `software`: the project's homepage.
    public string Software { get; init; } = "https://github.com/nostr-relay-csharp/relay";

    // Limits added by the policies (0 = no limit where it says so)
    public int MaxIdsPerFilter { get; init; } = 1000;
    public int MaxAuthorsPerFilter { get; init; } = 1000;
    public int MaxEventTags { get; init; } = Storage.Model.EventParser.MaxTags;
    /// Unescaped content bytes; defaults to the event size limit.
    public int MaxContentLength { get; init; } = 256 * 1024;
    /// Events dated further back than this are refused; 0 accepts any age (archives import).
    public int MaxPastSeconds { get; init; }
    /// NIP-13 leading zero bits an event id must have; 0 = none.
    public int MinPowDifficulty { get; init; }
    /// Open WebSocket connections per client address; 0 = no limit.
    public int MaxConnectionsPerIp { get; init; }
    /// Peers whose X-Forwarded-For / X-Real-IP are believed (CIDRs); others' headers are ignored.
    public Policies.AddressRange[] TrustedProxies { get; init; } = [];

    // Rate limits: token buckets, refilled at the rate, holding up to RateLimitBurstSeconds of it.
    public double EventsPerSecondPerIp { get; init; }
    public double EventsPerSecondPerPubkey { get; init; }
    public double ReqsPerSecondPerIp { get; init; }
    public double ReqsPerSecondPerPubkey { get; init; }
    public double RateLimitBurstSeconds { get; init; } = 10;
    /// Rate-limited answers in a row after which the connection is closed.
    public int RateLimitCloseAfter { get; init; } = 100;
    /// The WoT set skips rate limits too (the admin always does).
    public bool RateLimitExemptWot { get; init; }

    // NIP-42
    public bool AuthRequiredForRead { get; init; }
    public bool AuthRequiredForWrite { get; init; }
    /// Served only to an authenticated author or `p`-tagged recipient (DMs, gift wraps).
    public int[] PrivateKinds { get; init; } = [4, 1059, 1060];

    // Web of Trust
    public bool WotEnabled { get; init; }
    /// 64 lowercase hex (an npub is decoded when read).
    public string? AdminPubkey { get; init; }
    public int WotDepth { get; init; } = 2;
    /// REQs need NIP-42 AUTH by a pubkey in the WoT set.
    public bool WotRead { get; init; }
    public string[] WotSeedRelays { get; init; } = [];
    public TimeSpan WotRefresh { get; init; } = TimeSpan.FromMinutes(60);
}
